"""How many CPUs this test can really use: the smallest of every limit that applies.

``os.cpu_count()`` counts the machine's CPUs, but a test may be held to fewer by
its affinity mask (``taskset``, ``os.sched_setaffinity``), by a cgroup CPU quota (a
container given ``--cpus 1.5``), or by pytest-xdist running several workers that
share the machine. Expected speedup scales with the smallest of these.

PYTEST_DONT_REWRITE (imported by the public API before pytest loads the plugin)
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CpuBudget",
    "cgroup_quota",
    "effective_cpus",
    "parse_cgroup_v1_quota",
    "parse_cgroup_v2_max",
]

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")


@dataclass(frozen=True)
class CpuBudget:
    """The effective CPU count and every limit it was the smallest of.

    ``sources`` holds ``(name, cpus)`` pairs for each limit that applies
    (``cpu_count``, ``affinity``, ``cgroup``, ``xdist``).
    """

    effective: float
    sources: tuple[tuple[str, float], ...]

    @property
    def usable(self) -> int:
        """Whole CPUs this test may count on (never less than 1)."""
        return max(1, math.floor(self.effective + 1e-9))

    def describe(self) -> str:
        """Return e.g. ``"2 (cpu_count 2, affinity 2, xdist share 2/1)"``."""
        parts = ", ".join(f"{name} {_fmt(value)}" for name, value in self.sources)
        return f"{_fmt(self.effective)} ({parts})"


def _fmt(value: float) -> str:
    return f"{value:g}" if value == int(value) else f"{value:.2f}"


def parse_cgroup_v2_max(text: str) -> float | None:
    """Parse a cgroup v2 ``cpu.max`` file (``"150000 100000"`` -> 1.5; ``"max ..."`` -> None)."""
    fields = text.split()
    if not fields or fields[0] == "max":
        return None
    try:
        quota = int(fields[0])
        period = int(fields[1]) if len(fields) > 1 else 100_000
    except ValueError:
        return None
    if quota <= 0 or period <= 0:
        return None
    return quota / period


def parse_cgroup_v1_quota(quota_text: str, period_text: str) -> float | None:
    """Parse cgroup v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (quota -1 -> None)."""
    try:
        quota = int(quota_text.strip())
        period = int(period_text.strip())
    except ValueError:
        return None
    if quota <= 0 or period <= 0:
        return None
    return quota / period


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _ancestors(base: Path, rel: str) -> list[Path]:
    """``base/rel`` and each of its parent directories up to ``base``, deepest first.

    Inside a container the path named in ``/proc/self/cgroup`` is often not there
    (the cgroup namespace makes the container's cgroup the mount's root), so the
    mount root itself is always included.
    """
    parts = [p for p in rel.strip("/").split("/") if p and p != ".."]
    dirs = [base.joinpath(*parts[:i]) for i in range(len(parts), 0, -1)]
    dirs.append(base)
    return dirs


def cgroup_quota(
    proc_self_cgroup: Path = PROC_SELF_CGROUP, root: Path = CGROUP_ROOT
) -> float | None:
    """Return the tightest cgroup v1 or v2 CPU quota of this process, in CPUs (None: none).

    A quota set on any ancestor cgroup limits us too, so the smallest along the
    path wins.
    """
    text = _read(proc_self_cgroup)
    if text is None:
        return None
    quotas: list[float] = []
    for line in text.splitlines():
        fields = line.strip().split(":", 2)
        if len(fields) != 3:
            continue
        hier, controllers, rel = fields
        if hier == "0" and controllers == "":
            for directory in _ancestors(root, rel) + _ancestors(root / "unified", rel):
                content = _read(directory / "cpu.max")
                value = parse_cgroup_v2_max(content) if content is not None else None
                if value is not None:
                    quotas.append(value)
        elif "cpu" in controllers.split(","):
            for mount in (root / controllers, root / "cpu,cpuacct", root / "cpu"):
                for directory in _ancestors(mount, rel):
                    q = _read(directory / "cpu.cfs_quota_us")
                    p = _read(directory / "cpu.cfs_period_us")
                    value = parse_cgroup_v1_quota(q, p) if q and p else None
                    if value is not None:
                        quotas.append(value)
    return min(quotas) if quotas else None


def _affinity() -> int | None:
    getter = getattr(os, "sched_getaffinity", None)
    if getter is None:
        return None
    try:
        return len(getter(0))
    except OSError:
        return None


def effective_cpus(
    environ: Mapping[str, str] | None = None,
    *,
    proc_self_cgroup: Path = PROC_SELF_CGROUP,
    cgroup_root: Path = CGROUP_ROOT,
) -> CpuBudget:
    """Return the CPUs this test can count on: the smallest limit that applies.

    Under pytest-xdist (``PYTEST_XDIST_WORKER_COUNT`` workers) the other workers
    keep running their own tests while this one measures, so this test's share is
    the machine's CPUs divided by the number of workers.
    """
    env = os.environ if environ is None else environ
    sources: list[tuple[str, float]] = []
    count = os.cpu_count() or 1
    sources.append(("cpu_count", float(count)))
    affinity = _affinity()
    if affinity is not None:
        sources.append(("affinity", float(affinity)))
    quota = cgroup_quota(proc_self_cgroup, cgroup_root)
    if quota is not None:
        sources.append(("cgroup", quota))
    machine = min(value for _, value in sources)
    try:
        workers = int(env.get("PYTEST_XDIST_WORKER_COUNT", "") or 0)
    except ValueError:
        workers = 0
    if workers > 1:
        sources.append(("xdist share", machine / workers))
    return CpuBudget(min(value for _, value in sources), tuple(sources))
