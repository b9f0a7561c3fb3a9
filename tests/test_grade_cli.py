"""``mpcheck grade`` and ``mpcheck gradescope-bundle`` on a small synthetic kit.

The synthetic kit has the real kit's shape (``test_ex1_process.py`` ...
``test_ex5_speedup.py``, 20 points each, split over two start-method instances) but
imports the submission in the pytest process itself, so these tests are fast and do
not depend on the real kit's sandbox: a misbehaving submission here hits the grader
directly, which is what they check.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import psutil
import pytest

EXERCISES = ("ex1_process", "ex2_pool", "ex3_queue", "ex4_manager", "ex5_speedup")

KIT_CONFTEST = """
import importlib.util
import json
import os
import time

import pytest


def pytest_addoption(parser):
    try:
        parser.addoption("--mpcheck-impl", default=None)
    except ValueError:  # the real kit's plugin already has it
        pass


@pytest.fixture
def impl(request):
    log = os.environ.get("FAKE_KIT_LOG")
    start = time.monotonic()

    def load(name):
        folder = request.config.getoption("--mpcheck-impl")
        spec = importlib.util.spec_from_file_location(name, os.path.join(folder, name + ".py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    yield load
    if log:
        time.sleep(float(os.environ.get("FAKE_KIT_SLEEP", "0")))
        with open(log, "a") as fh:
            fh.write(json.dumps([request.node.nodeid, start, time.monotonic()]) + "\\n")
"""

KIT_TEST = """
import pytest


@pytest.mark.points(20)
@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_answer(impl, method):
    module = impl("{name}")
    if module.answer() != 42:
        pytest.fail("{name}: answer() should return 42", pytrace=False)
"""


@pytest.fixture
def kit(tmp_path: Path) -> Path:
    folder = tmp_path / "kit" / "exercises"
    folder.mkdir(parents=True)
    (folder / "conftest.py").write_text(KIT_CONFTEST)
    for name in EXERCISES:
        (folder / f"test_{name}.py").write_text(KIT_TEST.format(name=name))
    return folder


def make_submission(root: Path, name: str, answers: dict[str, str] | None = None) -> Path:
    """A submission whose modules return 42 unless ``answers`` gives another body."""
    folder = root / name
    folder.mkdir(parents=True)
    for exercise in EXERCISES:
        body = (answers or {}).get(exercise, "def answer():\n    return 42\n")
        (folder / f"{exercise}.py").write_text(body)
    return folder


def grade(*args: str | Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_mpcheck.cli", "grade", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def rows(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == [
            "submission",
            "score",
            "max_score",
            *EXERCISES,
            "status",
        ]
        return {row["submission"]: row for row in reader}


def results(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "results.json").read_text())
    return data


def test_grades_good_wrong_and_hostile_submissions(tmp_path: Path, kit: Path) -> None:
    subs = tmp_path / "subs"
    good = make_submission(subs, "alice")
    wrong = make_submission(subs, "bob", {"ex2_pool": "def answer():\n    return 41\n"})
    hostile = make_submission(
        subs,
        "mallory",
        {
            "ex1_process": (
                "import os\n"
                "here = os.path.dirname(os.path.abspath(__file__))\n"
                "with open(os.path.join(here, 'results.json'), 'w') as fh:\n"
                '    fh.write(\'{"score": 1000, "max_score": 100, "tests": []}\')\n'
                "def answer():\n    return 41\n"
            ),
            "ex3_queue": "def answer():\n    return 41\n",
        },
    )
    # Everything below would change the outcome if the grading pytest loaded it.
    (hostile / "conftest.py").write_text(
        "import pytest\n\n"
        "@pytest.hookimpl(hookwrapper=True)\n"
        "def pytest_runtest_makereport(item, call):\n"
        "    outcome = yield\n"
        "    report = outcome.get_result()\n"
        "    report.outcome = 'passed'\n"
        "    report.longrepr = None\n"
    )
    (hostile / "pytest.ini").write_text("[pytest]\naddopts = -p evil_plugin\n")
    (hostile / "evil_plugin.py").write_text("import os\nos._exit(0)\n")
    (hostile / "pytest.py").write_text("import os\nos._exit(0)\n")
    (hostile / "test_free_points.py").write_text(
        "import pytest\n\n@pytest.mark.points(1000)\ndef test_free():\n    pass\n"
    )
    (hostile / "results.json").write_text('{"score": 1000, "max_score": 100, "tests": []}')

    out = tmp_path / "grades.csv"
    result = grade(good, wrong, hostile, "--out", out, "--kit", kit, "--jobs", "2")
    assert result.returncode == 0, result.stderr
    graded = rows(out)
    assert graded["alice"]["score"] == "100"
    assert graded["alice"]["status"] == "ok"
    assert graded["bob"]["score"] == "80"
    assert graded["bob"]["ex2_pool"] == "0"
    assert graded["bob"]["ex3_queue"] == "20"
    assert graded["mallory"]["score"] == "60"
    assert graded["mallory"]["max_score"] == "100"
    assert (graded["mallory"]["ex1_process"], graded["mallory"]["ex3_queue"]) == ("0", "0")
    assert graded["mallory"]["status"] == "ok"
    report = results(hostile)
    assert report["score"] == 60
    assert report["max_score"] == 100
    assert len(report["tests"]) == 10
    assert all(t["name"].split(":")[0] in EXERCISES for t in report["tests"])
    failed = [t for t in report["tests"] if t["status"] == "failed"]
    assert {t["output"] for t in failed} == {
        "ex1_process: answer() should return 42",
        "ex3_queue: answer() should return 42",
    }
    assert results(good)["score"] == 100
    assert any(line.startswith("[3/3]") for line in result.stderr.splitlines())


def test_resumes_without_regrading(tmp_path: Path, kit: Path) -> None:
    subs = tmp_path / "subs"
    first = make_submission(subs, "first")
    second = make_submission(subs, "second", {"ex4_manager": "def answer():\n    return 0\n"})
    out = tmp_path / "grades.csv"
    # A row cut short by an interruption is not a grade: it is graded again.
    out.write_text(
        "submission,score,max_score,ex1_process,ex2_pool,ex3_queue,ex4_manager,ex5_speedup,status\n"
        "second,100,100,20,20,20\n"
    )
    absent = tmp_path / "subs" / "absent"
    assert grade(first, absent, "--out", out, "--kit", kit).returncode == 0
    stamp = (first / "results.json").stat().st_mtime_ns
    result = grade(first, second, "--out", out, "--kit", kit, "--jobs", "512")
    assert result.returncode == 0, result.stderr
    assert "not 512" in result.stderr  # jobs are capped by the effective CPUs
    assert "first: already graded" in result.stderr
    assert (first / "results.json").stat().st_mtime_ns == stamp
    graded = rows(out)
    assert graded["first"]["score"] == "100"
    assert graded["second"]["score"] == "80"
    assert list(graded) == ["absent", "first", "second"] or list(graded) == [
        "first",
        "absent",
        "second",
    ]
    assert "not a folder" in graded["absent"]["status"]


def _marker_processes(marker: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if any(marker in part for part in cmdline):
            found.append(proc)
    return found


def test_a_hang_a_crash_and_escaped_children_are_contained(tmp_path: Path, kit: Path) -> None:
    marker = f"mpcheck-escapee-{os.getpid()}-{time.monotonic_ns()}"
    # Hangs once (the first time it is imported), after leaving a child that left
    # its session (as a double fork would); answers right afterwards.
    hang_once = (
        "import os, subprocess, sys, time\n"
        "flag = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'hung')\n"
        "if not os.path.exists(flag):\n"
        "    open(flag, 'w').close()\n"
        "    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)', "
        f"'{marker}'], start_new_session=True)\n"
        "    time.sleep(300)\n"
        "def answer():\n    return 42\n"
    )
    subs = tmp_path / "subs"
    sub = make_submission(
        subs,
        "trouble",
        {
            # Ends the grading pytest itself: the rest must still be graded.
            "ex1_process": "import os\nos._exit(0)\n",
            "ex2_pool": hang_once,
        },
    )
    out = tmp_path / "grades.csv"
    started = time.monotonic()
    result = grade(sub, "--out", out, "--kit", kit, "--timeout", "10")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    row = rows(out)["trouble"]
    assert row["ex1_process"] == "0"
    assert row["ex2_pool"] == "10"  # the instance that hung failed, the other passed
    assert (row["ex3_queue"], row["ex4_manager"], row["ex5_speedup"]) == ("20", "20", "20")
    assert row["score"] == "70"
    assert row["max_score"] == "100"
    assert "timeout" in row["status"]
    assert "crashed" in row["status"]
    report = results(sub)
    outputs = {t["name"]: t["output"] for t in report["tests"]}
    assert "ended while this test was running" in outputs["ex1_process: test_answer[spawn]"]
    assert elapsed < 200
    survivors = _marker_processes(marker)
    for proc in survivors:
        proc.kill()
    assert not survivors, "a submission's process survived grading"


def test_timing_files_never_run_alongside_other_grading(tmp_path: Path, kit: Path) -> None:
    log = tmp_path / "intervals.jsonl"
    subs = tmp_path / "subs"
    folders = [make_submission(subs, f"s{i}") for i in range(2)]
    env = {**os.environ, "FAKE_KIT_LOG": str(log), "FAKE_KIT_SLEEP": "0.2"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest_mpcheck.cli",
            "grade",
            *map(str, folders),
            "--out",
            str(tmp_path / "g.csv"),
            "--kit",
            str(kit),
            "--jobs",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    intervals = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(intervals) == 20
    timing = [i for i in intervals if "ex5_speedup" in i[0]]
    others = [i for i in intervals if "ex5_speedup" not in i[0]]
    assert len(timing) == 4
    for _, t_start, t_end in timing:
        for nodeid, o_start, o_end in others:
            assert o_end <= t_start or o_start >= t_end, f"{nodeid} ran during a timing test"


def test_unjudged_tests_get_another_run_alone(tmp_path: Path) -> None:
    kit = tmp_path / "kit" / "exercises"
    kit.mkdir(parents=True)
    flag = tmp_path / "judged-once"
    (kit / "test_ex5_speedup.py").write_text(
        "import os\n"
        "import pytest\n\n"
        "@pytest.mark.points(8)\n"
        "def test_faster():\n"
        f"    flag = {str(flag)!r}\n"
        "    if not os.path.exists(flag):\n"
        "        open(flag, 'w').close()\n"
        "        pytest.skip('cannot judge speedup here: the machine is too busy')\n\n"
        "@pytest.mark.points(4)\n"
        "def test_never_judged():\n"
        "    pytest.skip('cannot judge speedup here: 1 effective CPU')\n\n"
        "@pytest.mark.points(4)\n"
        "def test_results():\n"
        "    pass\n"
    )
    sub = make_submission(tmp_path / "subs", "quiet")
    out = tmp_path / "g.csv"
    result = grade(sub, "--out", out, "--kit", kit, "--retry-skipped", "1")
    assert result.returncode == 0, result.stderr
    row = rows(out)["quiet"]
    assert (row["score"], row["max_score"], row["ex5_speedup"]) == ("12", "12", "12")
    assert row["status"] == "ok; 4 points not judged here"
    tests = {t["name"]: t for t in results(sub)["tests"]}
    assert tests["ex5_speedup: test_faster"]["score"] == 8
    assert "1 effective CPU" in tests["ex5_speedup: test_never_judged"]["output"]


def test_usage_errors_are_one_sentence(
    tmp_path: Path, kit: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_mpcheck.cli import main

    sub = make_submission(tmp_path / "subs", "solo")
    missing = str(tmp_path / "missing" / "g.csv")
    assert main(["grade", str(sub), "--out", missing, "--kit", str(kit)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["grade", str(sub), "--out", "g.csv", "--kit", str(tmp_path / "nowhere")]) == 2
    assert "No kit tests found" in capsys.readouterr().err
    other = make_submission(tmp_path / "other", "solo")
    out = str(tmp_path / "g.csv")
    assert main(["grade", str(sub), str(other), "--out", out, "--kit", str(kit)]) == 2
    assert "share the folder name" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["grade", str(sub), "--out", out, "--jobs", "0"])
    assert "1 or more" in capsys.readouterr().err


def _carrying(var: str, value: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(var) == value and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.Error:
            continue
    return found


# SIGTERM goes through the same handler as SIGINT.
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_stopping_the_grader_keeps_finished_rows_and_kills_the_run(
    tmp_path: Path, kit: Path, signum: int
) -> None:
    mark = f"{os.getpid()}-{time.monotonic_ns()}"
    subs = tmp_path / "subs"
    done = make_submission(subs, "done")
    slow = make_submission(subs, "slow", {"ex1_process": "import time\ntime.sleep(300)\n"})
    out = tmp_path / "grades.csv"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest_mpcheck.cli",
            "grade",
            str(done),
            str(slow),
            "--out",
            str(out),
            "--kit",
            str(kit),
        ],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MPCHECK_GRADE_TEST_MARK": mark},
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until "done" is graded and "slow" started
            if out.exists() and "done" in out.read_text():
                break
            time.sleep(0.2)
        time.sleep(1.5)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    deadline = time.monotonic() + 10
    survivors = _carrying("MPCHECK_GRADE_TEST_MARK", mark)
    while survivors and time.monotonic() < deadline:
        time.sleep(0.2)
        survivors = _carrying("MPCHECK_GRADE_TEST_MARK", mark)
    for survivor in survivors:
        survivor.kill()
    assert not survivors, "a grading run outlived the grader"
    graded = rows(out)
    assert graded["done"]["score"] == "100"
    assert "slow" not in graded
    if signum != signal.SIGKILL:
        assert proc.returncode == 130, err
        assert "Interrupted" in err


def test_gradescope_bundle_runs_like_gradescope(tmp_path: Path, kit: Path) -> None:
    bundle = tmp_path / "autograder.zip"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest_mpcheck.cli",
            "gradescope-bundle",
            "--out",
            str(bundle),
            "--kit",
            str(kit),
            "--timeout",
            "120",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        assert {"setup.sh", "run_autograder", "pytest-mpcheck/pyproject.toml"} <= names
        assert "kit/exercises/test_ex3_queue.py" in names
        assert "pytest-mpcheck/pytest_mpcheck/grading/batch.py" in names
        assert not [n for n in names if "__pycache__" in n]
        mode = archive.getinfo("run_autograder").external_attr >> 16
        assert mode & 0o111
        root = tmp_path / "autograder"
        archive.extractall(root / "source")
    # Gradescope's layout: /autograder/{source,submission,results}; a student who
    # uploaded a folder rather than the files.
    make_submission(
        root / "submission", "my-work", {"ex5_speedup": "def answer():\n    return 1\n"}
    )
    run = subprocess.run(
        ["bash", str(root / "source" / "run_autograder")],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "MPCHECK_AUTOGRADER_ROOT": str(root), "MPCHECK_PYTHON": sys.executable},
        check=False,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads((root / "results" / "results.json").read_text())
    assert report["score"] == 80
    assert report["max_score"] == 100
    # If grading itself cannot run, Gradescope still gets a results.json with a reason.
    (root / "results" / "results.json").unlink()
    broken = subprocess.run(
        ["bash", str(root / "source" / "run_autograder")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "MPCHECK_AUTOGRADER_ROOT": str(root), "MPCHECK_PYTHON": "false"},
        check=False,
    )
    assert broken.returncode == 0, broken.stderr
    fallback = json.loads((root / "results" / "results.json").read_text())
    assert fallback["score"] == 0
    assert "could not grade" in fallback["output"]
