"""``mpcheck grade`` end to end with the real kit: the reference solutions and a hostile folder.

One start method (fork, the quickest) keeps it to one kit run per submission; the
other start methods are the kit's own tests' business.
"""

from __future__ import annotations

import contextlib
import csv
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]
KIT = ROOT / "exercises"
SOLUTIONS = ROOT / "solutions"
HOSTILE = ROOT / "tests" / "corpus" / "hostile"
EXERCISES = ("ex1_process", "ex2_pool", "ex3_queue", "ex4_manager", "ex5_speedup")

pytestmark = pytest.mark.skipif(
    not list(KIT.glob("test_ex*.py")) or "fork" not in multiprocessing.get_all_start_methods(),
    reason="needs the kit's tests and the fork start method",
)


def _marked(marker: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if any(marker in part for part in proc.info.get("cmdline") or []):
            found.append(proc)
    return found


def test_grades_the_reference_and_a_hostile_submission(tmp_path: Path) -> None:
    marker = f"mpcheck-e2e-escapee-{os.getpid()}-{time.monotonic_ns()}"
    subs = tmp_path / "subs"
    reference = subs / "reference"
    shutil.copytree(SOLUTIONS, reference, ignore=shutil.ignore_patterns("__pycache__"))
    hostile = subs / "mallory"
    shutil.copytree(SOLUTIONS, hostile, ignore=shutil.ignore_patterns("__pycache__"))
    # ex1 writes fake results into every descriptor and results file it can reach.
    shutil.copy(HOSTILE / "fake_result" / "ex1_process.py", hostile / "ex1_process.py")
    # ex3 ends whatever process imports it.
    (hostile / "ex3_queue.py").write_text("import os\nos._exit(3)\n")
    # ex2 is right, but leaves a process that left its session each time it is imported.
    ex2 = (SOLUTIONS / "ex2_pool.py").read_text()
    (hostile / "ex2_pool.py").write_text(
        "import subprocess as _sp, sys as _sys\n"
        "_sp.Popen([_sys.executable, '-c', 'import time; time.sleep(120)', "
        f"'{marker}'], start_new_session=True)\n" + ex2
    )
    # What would change the outcome if the grading pytest ever loaded it.
    (hostile / "conftest.py").write_text(
        "import pytest\n\n"
        "@pytest.hookimpl(hookwrapper=True)\n"
        "def pytest_runtest_makereport(item, call):\n"
        "    outcome = yield\n"
        "    outcome.get_result().outcome = 'passed'\n"
    )
    (hostile / "pytest.ini").write_text("[pytest]\naddopts = -p no:mpcheck\n")
    (hostile / "pytest.py").write_text("import os\nos._exit(0)\n")
    (hostile / "test_cheat.py").write_text(
        "import pytest\n\n@pytest.mark.points(500)\ndef test_free():\n    pass\n"
    )
    (hostile / "results.json").write_text('{"score": 100, "max_score": 100, "tests": []}')

    out = tmp_path / "grades.csv"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest_mpcheck.cli",
            "grade",
            str(reference),
            str(hostile),
            "--out",
            str(out),
            "--jobs",
            "2",
            "--kit",
            str(KIT),
            "--timeout",
            "400",
            "--pytest-arg=--mp-start-methods=fork",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    try:
        assert result.returncode == 0, result.stderr
        with open(out, newline="") as handle:
            rows = {row["submission"]: row for row in csv.DictReader(handle)}
        ref = rows["reference"]
        assert ref["score"] == ref["max_score"], ref
        assert float(ref["max_score"]) >= 80
        assert [ref[e] for e in EXERCISES[:4]] == ["20"] * 4, ref
        assert ref["status"].startswith("ok"), ref
        bad = rows["mallory"]
        assert (bad["ex1_process"], bad["ex3_queue"]) == ("0", "0"), bad
        assert bad["ex4_manager"] == "20", bad
        assert float(bad["score"]) <= float(ref["score"]) - 40
        report = json.loads((hostile / "results.json").read_text())
        assert report["score"] == float(bad["score"])
        names = [t["name"] for t in report["tests"]]
        assert all(name.split(":")[0] in EXERCISES for name in names), names
        ex3 = [t for t in report["tests"] if t["name"].startswith("ex3_queue")]
        assert ex3
        assert all(t["status"] == "failed" and t["output"] for t in ex3)
    finally:
        survivors = _marked(marker)
        for proc in survivors:
            proc.kill()
    assert not survivors, "a process a submission started survived grading"


# The sandbox's own tests cover every case of the corpus; these are the ones that
# reach for what is around the sandbox (its process group, the machine, the tree).
CORPUS_CASES = ("kill_pgroup", "fork_flood", "double_fork_escape")


def _carrying(var: str, value: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(var) == value and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def test_grades_hostile_corpus_cases_and_leaves_nothing_behind(tmp_path: Path) -> None:
    mark = f"{os.getpid()}-{time.monotonic_ns()}"
    subs = []
    for case in CORPUS_CASES:
        folder = tmp_path / "subs" / case
        shutil.copytree(HOSTILE / case, folder)
        subs.append(str(folder))
    out = tmp_path / "grades.csv"
    env = {**os.environ, "MPCHECK_GRADE_TEST_MARK": mark}
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest_mpcheck.cli",
            "grade",
            *subs,
            "--out",
            str(out),
            "--jobs",
            "2",
            "--kit",
            str(KIT),
            "--timeout",
            "300",
            "--pytest-arg=--mp-start-methods=fork",
            "--pytest-arg=-k",
            "--pytest-arg=ex1_process",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        check=False,
    )
    elapsed = time.monotonic() - started
    deadline = time.monotonic() + 5
    survivors = _carrying("MPCHECK_GRADE_TEST_MARK", mark)
    while survivors and time.monotonic() < deadline:
        time.sleep(0.2)
        survivors = _carrying("MPCHECK_GRADE_TEST_MARK", mark)
    described = [" ".join(p.cmdline()[:4]) for p in survivors if p.is_running()]
    for proc in survivors:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    assert result.returncode == 0, result.stderr
    with open(out, newline="") as handle:
        rows = {row["submission"]: row for row in csv.DictReader(handle)}
    assert set(rows) == set(CORPUS_CASES)
    for case, row in rows.items():
        assert row["ex1_process"] == "0", (case, row)
        assert row["max_score"] == "100", (case, row)
        report = json.loads((tmp_path / "subs" / case / "results.json").read_text())
        ex1 = [t for t in report["tests"] if t["name"].startswith("ex1_process: ")]
        assert ex1, case
        assert all(t["status"] == "failed" and t["output"] for t in ex1), case
    assert elapsed < 600
    assert not described, f"processes of a submission survived grading: {described}"
