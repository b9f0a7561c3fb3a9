"""Effective CPUs: cgroup v1/v2 quota files, the affinity mask and the xdist share."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pytest_mpcheck.speedup.cpus import (
    cgroup_quota,
    effective_cpus,
    parse_cgroup_v1_quota,
    parse_cgroup_v2_max,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("max 100000\n", None),
        ("150000 100000\n", 1.5),
        ("100000 100000", 1.0),
        ("50000", 0.5),
        ("", None),
        ("garbage here", None),
        ("-1 100000", None),
    ],
)
def test_cgroup_v2_cpu_max(text: str, expected: float | None) -> None:
    assert parse_cgroup_v2_max(text) == expected


@pytest.mark.parametrize(
    ("quota", "period", "expected"),
    [("-1\n", "100000\n", None), ("200000\n", "100000\n", 2.0), ("x", "100000", None)],
)
def test_cgroup_v1_quota(quota: str, period: str, expected: float | None) -> None:
    assert parse_cgroup_v1_quota(quota, period) == expected


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cgroup_v2_tree_takes_the_tightest_ancestor(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    _write(root / "user.slice" / "cpu.max", "300000 100000\n")
    _write(root / "user.slice" / "job" / "cpu.max", "max 100000\n")
    proc = tmp_path / "proc_self_cgroup"
    proc.write_text("0::/user.slice/job\n")
    assert cgroup_quota(proc, root) == 3.0


def test_cgroup_v2_in_a_container_reads_the_mount_root(tmp_path: Path) -> None:
    # Inside a cgroup namespace the named path does not exist under the mount.
    root = tmp_path / "cgroup"
    _write(root / "cpu.max", "100000 100000\n")
    proc = tmp_path / "proc_self_cgroup"
    proc.write_text("0::/docker/abc123\n")
    assert cgroup_quota(proc, root) == 1.0


def test_cgroup_v1_hierarchy(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    _write(root / "cpu,cpuacct" / "cpu.cfs_quota_us", "-1\n")
    _write(root / "cpu,cpuacct" / "cpu.cfs_period_us", "100000\n")
    _write(root / "cpu,cpuacct" / "kube" / "pod" / "cpu.cfs_quota_us", "150000\n")
    _write(root / "cpu,cpuacct" / "kube" / "pod" / "cpu.cfs_period_us", "100000\n")
    proc = tmp_path / "proc_self_cgroup"
    proc.write_text("12:memory:/kube/pod\n4:cpu,cpuacct:/kube/pod\n")
    assert cgroup_quota(proc, root) == 1.5


def test_no_cgroup_limit(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    _write(root / "cpu" / "cpu.cfs_quota_us", "-1\n")
    _write(root / "cpu" / "cpu.cfs_period_us", "100000\n")
    proc = tmp_path / "proc_self_cgroup"
    proc.write_text("2:cpu:/\n0::/\n")
    assert cgroup_quota(proc, root) is None
    assert cgroup_quota(tmp_path / "missing", root) is None


def test_effective_cpus_is_the_smallest_limit(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    _write(root / "cpu.max", "50000 100000\n")
    proc = tmp_path / "proc_self_cgroup"
    proc.write_text("0::/\n")
    budget = effective_cpus({}, proc_self_cgroup=proc, cgroup_root=root)
    assert budget.effective == 0.5
    assert ("cgroup", 0.5) in budget.sources
    assert "cgroup 0.50" in budget.describe()


def test_xdist_share(tmp_path: Path) -> None:
    proc = tmp_path / "none"
    alone = effective_cpus({}, proc_self_cgroup=proc)
    shared = effective_cpus({"PYTEST_XDIST_WORKER_COUNT": "2"}, proc_self_cgroup=proc)
    assert shared.effective == pytest.approx(alone.effective / 2)
    assert "xdist share" in shared.describe()
    assert effective_cpus({"PYTEST_XDIST_WORKER_COUNT": "x"}, proc_self_cgroup=proc) == alone


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="no affinity masks here")
def test_affinity_mask_counts() -> None:
    budget = effective_cpus({})
    assert dict(budget.sources)["affinity"] == len(os.sched_getaffinity(0))
    assert budget.effective <= len(os.sched_getaffinity(0))
