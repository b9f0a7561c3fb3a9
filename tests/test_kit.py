"""The exercise kit end to end: --mpcheck-impl, correct implementations, progress, last run.

Each test runs a copy of the kit's tests (``exercises/``) in a separate pytest
process against an implementation folder: the reference ``solutions/``,
implementations written differently that must pass too, or folders that are
missing or incomplete.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORRECT = ROOT / "tests" / "corpus" / "correct"
EXERCISES = ("ex1_process", "ex2_pool", "ex3_queue", "ex4_manager", "ex5_speedup")


def copy_kit(pytester: pytest.Pytester) -> Path:
    """Copy the kit's tests and stubs into ``pytester.path / "exercises"``."""
    target = pytester.path / "exercises"
    shutil.copytree(ROOT / "exercises", target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def run(pytester: pytest.Pytester, *args: str, method: str = "fork") -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "exercises/", "--mp-start-methods", method, "-p", "no:cacheprovider", *args
    )


@pytest.mark.parametrize(("impl", "method"), [("alt_a", "spawn"), ("alt_b", "fork")])
def test_correct_implementations_written_differently_pass(
    pytester: pytest.Pytester, impl: str, method: str
) -> None:
    """Process subclasses, explicit contexts, ProcessPoolExecutor, imap, starmap,
    JoinableQueue, SimpleQueue, bounded queues, manual manager shutdown: all correct."""
    copy_kit(pytester)
    # The speedup verdict is left out: it is timing, and engineer-tested on its own.
    result = run(pytester, "--mpcheck-impl", str(CORRECT / impl), "-k", "not faster", method=method)
    result.assert_outcomes(passed=18)


def test_solutions_pass_under_every_start_method_of_one_exercise(
    pytester: pytest.Pytester,
) -> None:
    copy_kit(pytester)
    result = pytester.runpytest_subprocess(
        "exercises/",
        "--mpcheck-impl",
        str(ROOT / "solutions"),
        "-p",
        "no:cacheprovider",
        "-k",
        "ex1_process",
    )
    methods = len(pytest.importorskip("multiprocessing").get_all_start_methods())
    result.assert_outcomes(passed=3 * methods)
    result.stdout.fnmatch_lines(["ex1_process *20 / 20 *done"])


def test_missing_folder_is_a_usage_error_in_one_sentence(pytester: pytest.Pytester) -> None:
    copy_kit(pytester)
    result = run(pytester, "--mpcheck-impl", "nowhere")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--mpcheck-impl: the folder */nowhere does not exist."])


def test_folder_without_any_exercise_module_is_a_usage_error(pytester: pytest.Pytester) -> None:
    copy_kit(pytester)
    (pytester.path / "empty").mkdir()
    (pytester.path / "empty" / "notes.txt").write_text("nothing here\n")
    result = run(pytester, "--mpcheck-impl", "empty")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--mpcheck-impl: the folder */empty holds none of the exercise modules*"]
    )


def test_a_missing_module_fails_its_exercise_and_the_others_still_report(
    pytester: pytest.Pytester,
) -> None:
    copy_kit(pytester)
    impl = pytester.path / "impl"
    impl.mkdir()
    shutil.copy(ROOT / "solutions" / "ex2_pool.py", impl)
    result = run(pytester, "--mpcheck-impl", "impl", "-k", "worker_prints or fib_is")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "ex1_process.py is missing from */impl: put your ex1_process.py there*",
            "ex2_pool *3 / 3 * 1 / 1 * done",
        ]
    )


def test_impl_folder_from_the_ini_file(pytester: pytest.Pytester) -> None:
    copy_kit(pytester)
    shutil.copytree(ROOT / "solutions", pytester.path / "mine")
    pytester.makeini("[pytest]\nmpcheck_impl = mine\n")
    result = run(pytester, "-k", "worker_prints or fib_is")
    result.assert_outcomes(passed=2)


def test_test_files_in_the_impl_folder_are_never_used(pytester: pytest.Pytester) -> None:
    copy_kit(pytester)
    impl = pytester.path / "impl"
    shutil.copytree(ROOT / "exercises", impl)  # the stubs, plus tests that would pass
    (impl / "conftest.py").write_text(
        "import pytest\n\n@pytest.fixture\ndef mpcheck_kit():\n    1/0\n"
    )
    (impl / "test_ex1_process.py").write_text("def test_free_points():\n    assert True\n")
    result = run(pytester, "--mpcheck-impl", "impl", "-k", "ex1")
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(["worker in ex1_process.py is not written yet*"])


def test_progress_table_and_last_run_file(pytester: pytest.Pytester) -> None:
    kit = copy_kit(pytester)
    # ex1 solved, ex2 still the stub: worth 4 and 3 points under one start method.
    shutil.copy(ROOT / "solutions" / "ex1_process.py", kit)
    result = run(pytester, "-k", "worker_prints or fib_is")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*= mpcheck progress =*",
            "exercise * points * tests passing * next",
            "ex1_process *4 / 4 * 1 / 1 * done",
            "ex2_pool *0 / 3 * 0 / 1 * fib in ex2_pool.py is not written yet*",
            "total *4 / 7",
            "Next: ex2_pool.py: fib in ex2_pool.py is not written yet*",
        ]
    )
    data = json.loads((pytester.path / ".mpcheck" / "last-run.json").read_text())
    assert data["impl"] == "exercises"
    ex1, ex2 = data["exercises"]["ex1_process"], data["exercises"]["ex2_pool"]
    assert (ex1["earned"], ex1["max"], ex1["passed"], ex1["failed"]) == (4.0, 4.0, 1, 0)
    assert ex1["first_failure"] is None
    assert (ex2["earned"], ex2["max"], ex2["passed"], ex2["failed"]) == (0.0, 3.0, 0, 1)
    assert ex2["first_failure"].startswith("fib in ex2_pool.py is not written yet")
    assert ex2["first_failing_test"].endswith("test_fib_is_the_recursive_fibonacci[fork]")


def test_no_progress_table_outside_the_kit(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    assert True\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "mpcheck progress" not in result.stdout.str()
    assert not (pytester.path / ".mpcheck").exists()


def test_points_add_up_to_20_per_exercise() -> None:
    """Every kit test carries a points marker, and each exercise is worth 20."""
    import ast

    for name in EXERCISES:
        tree = ast.parse((ROOT / "exercises" / f"test_{name}.py").read_text(encoding="utf-8"))
        total = 0
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                marks = [
                    d
                    for d in node.decorator_list
                    if isinstance(d, ast.Call) and getattr(d.func, "attr", "") == "points"
                ]
                assert len(marks) == 1, (name, node.name)
                arg = marks[0].args[0]
                assert isinstance(arg, ast.Constant)
                total += arg.value
        assert total == 20, name


def test_stubs_keep_every_contract_name_and_teach_in_both_languages() -> None:
    import ast

    names = {
        "ex1_process": {"worker", "start_workers"},
        "ex2_pool": {"fib", "parallel_map", "parallel_fib"},
        "ex3_queue": {"SENTINEL", "producer", "consumer", "run_pipeline"},
        "ex4_manager": {"worker", "collect"},
        "ex5_speedup": {"heavy", "run_serial", "run_parallel", "compare"},
    }
    for module, expected in names.items():
        for folder in ("exercises", "solutions"):
            tree = ast.parse((ROOT / folder / f"{module}.py").read_text(encoding="utf-8"))
            defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
            defined |= {
                t.id
                for n in tree.body
                if isinstance(n, ast.Assign)
                for t in n.targets
                if isinstance(t, ast.Name)
            }
            assert expected <= defined, (folder, module, expected - defined)
        doc = ast.get_docstring(
            ast.parse((ROOT / "exercises" / f"{module}.py").read_text(encoding="utf-8"))
        )
        assert doc is not None
        for heading in ("The one rule", "The classic mistake", "단 하나의 규칙", "흔한 실수"):
            assert heading in doc, (module, heading)


def test_a_grading_run_leaves_the_kit_owners_progress_alone(pytester: pytest.Pytester) -> None:
    kit = copy_kit(pytester)
    shutil.copy(ROOT / "solutions" / "ex1_process.py", kit)
    result = run(pytester, "-k", "worker_prints", "--mpcheck-report", "results.json")
    result.assert_outcomes(passed=1)
    assert json.loads((pytester.path / "results.json").read_text())["score"] == 4
    assert not (pytester.path / ".mpcheck").exists()
    # The same run without a report is the learner's own: it is recorded.
    run(pytester, "-k", "worker_prints").assert_outcomes(passed=1)
    assert (pytester.path / ".mpcheck" / "last-run.json").is_file()


def test_progress_and_last_run_under_xdist(pytester: pytest.Pytester) -> None:
    """Under ``-n 2`` the controller shows the table and writes the file; workers do not."""
    kit = copy_kit(pytester)
    shutil.copy(ROOT / "solutions" / "ex1_process.py", kit)
    result = run(pytester, "-n", "2", "-k", "worker_prints or fib_is")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["ex1_process *4 / 4 * 1 / 1 * done", "total *4 / 7"])
    data = json.loads((pytester.path / ".mpcheck" / "last-run.json").read_text())
    assert data["exercises"]["ex2_pool"]["failed"] == 1


def test_progress_table_says_when_the_speedup_was_not_judged(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    kit = copy_kit(pytester)
    shutil.copy(ROOT / "solutions" / "ex5_speedup.py", kit)
    # Four xdist workers on this machine leave each less than 2 CPUs: no verdict.
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "4")
    result = run(pytester, "-k", "ex5 and (serial_results or faster)")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["ex5_speedup * 1 / 1 * done (speedup not judged here: *)"])


def test_progress_table_stays_aligned_in_korean(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_mpcheck.i18n import _, set_language
    from pytest_mpcheck.kit.plugin import _width

    copy_kit(pytester)
    monkeypatch.setenv("MPCHECK_LANG", "ko")
    result = run(pytester, "-k", "worker_prints or fib_is")
    try:
        set_language("ko")
        points, total = _("points"), _("total")
    finally:
        set_language(None)
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if "mpcheck" in line and "=" in line) + 1
    heading, ex1, ex2, last = lines[start : start + 4]
    assert points != "points", "the heading is translated"
    assert last.startswith(total), last
    # The points column ends at the same display column on every line (wide
    # characters count two columns).
    ends = [_width(heading[: heading.index(points) + len(points)])]
    for line in (ex1, ex2, last):
        slash = line.index(" / ")
        cut = line.find(" ", slash + 3)
        ends.append(_width(line[:cut] if cut > 0 else line))
    assert len(set(ends)) == 1, (ends, heading, ex1, ex2, last)
