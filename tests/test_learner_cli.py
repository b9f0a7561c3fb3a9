"""``mpcheck status``, ``hint`` and ``reset``, run as a learner runs them: the command, in a kit.

Every check is made in English and in Korean (``MPCHECK_LANG=ko`` or ``--lang ko``).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pytest_mpcheck import i18n
from pytest_mpcheck.cli import main
from pytest_mpcheck.learner.hints import HINTS
from pytest_mpcheck.learner.progress import EXERCISES, ExerciseResult, record_run
from pytest_mpcheck.learner.reset import original_stub

MPCHECK = Path(sys.executable).with_name("mpcheck")


def run_command(
    *args: str, cwd: Path, lang: str = "en", stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the ``mpcheck`` console script as a learner would, in folder ``cwd``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG"))}
    env.update(MPCHECK_LANG=lang, LANG="C.UTF-8", COLUMNS="80")
    command = [str(MPCHECK)] if MPCHECK.exists() else [sys.executable, "-m", "pytest_mpcheck.cli"]
    return subprocess.run(
        [*command, *args],
        cwd=cwd,
        env=env,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=120,
    )


Runner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def mpcheck(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Runner]:
    """``mpcheck`` run through :func:`pytest_mpcheck.cli.main` in this process.

    The same parser and commands as the console script, without a Python start-up
    per call; the tests that use :func:`run_command` cover the script itself.
    """
    before = i18n.current_language()

    def run(
        *args: str, cwd: Path, lang: str = "en", stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        monkeypatch.chdir(cwd)
        monkeypatch.setenv("MPCHECK_LANG", lang)
        monkeypatch.setenv("COLUMNS", "80")
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin or ""))
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's usage errors
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(list(args), code, out, err)

    yield run
    i18n.set_language(before)


@pytest.fixture
def kit(tmp_path: Path) -> Path:
    """A kit folder as a learner has it: exercises/ with the five stubs."""
    (tmp_path / "exercises").mkdir()
    for name in EXERCISES:
        (tmp_path / "exercises" / f"{name}.py").write_text(
            original_stub(name) or f"# {name}\n", encoding="utf-8"
        )
    return tmp_path


def record_some_progress(root: Path) -> None:
    """ex1 passes, ex2 half-done with a failure, the rest never ran."""
    record_run(
        root,
        [
            ExerciseResult("ex1_process", earned=20, passed=4),
            ExerciseResult(
                "ex2_pool",
                earned=8,
                passed=2,
                failed=3,
                first_failure="parallel_map ran every task in one process:\n"
                "use a Pool of `processes` workers",
                first_failing_test="exercises/test_ex2_pool.py::test_parallel[spawn]",
            ),
        ],
    )


# -- status ------------------------------------------------------------------


def test_status_without_a_run_says_what_to_do(kit: Path) -> None:
    result = run_command("status", cwd=kit)
    assert result.returncode == 1
    assert "No run recorded yet" in result.stdout
    assert "run pytest exercises/ first" in result.stdout
    korean = run_command("status", cwd=kit, lang="ko")
    assert "아직 실행 기록이 없습니다: 먼저 pytest exercises/를 실행하세요" in korean.stdout


def test_status_shows_the_five_exercises_and_the_next_one(kit: Path) -> None:
    record_some_progress(kit)
    result = run_command("status", cwd=kit / "exercises")  # found from inside the folder too
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    table = [line.strip() for line in lines if line.strip()[:1] in ("✓", "✗", "·")]
    assert [row.split()[1] for row in table] == list(EXERCISES)
    assert table[0].split()[0] == "✓"
    assert table[0].split()[2] == "20/20"
    assert "passing" in table[0]
    assert table[1].split()[:3] == ["✗", "ex2_pool", "8/20"]
    assert "3 of 5 tests failing" in table[1]
    assert "not run yet" in table[2]
    assert "[####----------------] 28/100 points, 1 of 5 exercises done" in result.stdout
    assert "Next: ex2_pool (exercises/ex2_pool.py)" in result.stdout
    assert "    parallel_map ran every task in one process:" in result.stdout
    assert "mpcheck hint ex2" in result.stdout


def test_status_in_korean(kit: Path, mpcheck: Runner) -> None:
    record_some_progress(kit)
    result = mpcheck("status", "--lang", "ko", cwd=kit, lang="en")
    assert result.returncode == 0, result.stderr
    assert "pytest-mpcheck: 진행 상황" in result.stdout
    assert "테스트 5개 중 3개 실패" in result.stdout
    assert "아직 실행 안 함" in result.stdout
    assert "28/100점, 연습 문제 5개 중 1개 완료" in result.stdout
    assert "다음 할 일: ex2_pool" in result.stdout
    assert "막혔나요? mpcheck hint ex2" in result.stdout


def test_status_notices_a_file_changed_since_the_run(kit: Path, mpcheck: Runner) -> None:
    record_some_progress(kit)
    path = kit / "exercises" / "ex2_pool.py"
    later = path.stat().st_mtime + 60
    os.utime(path, (later, later))
    result = mpcheck("status", cwd=kit)
    row = next(line for line in result.stdout.splitlines() if "ex2_pool  " in line)
    assert "(changed since it last ran)" in row


def test_status_when_everything_passes(kit: Path, mpcheck: Runner) -> None:
    record_run(kit, [ExerciseResult(name, earned=20, passed=3) for name in EXERCISES])
    result = mpcheck("status", cwd=kit)
    assert "100/100 points, 5 of 5 exercises done" in result.stdout
    assert "Every exercise passes. Well done!" in result.stdout
    assert "모든 연습 문제를 통과했습니다" in mpcheck("status", cwd=kit, lang="ko").stdout


def test_status_with_a_damaged_record(kit: Path, mpcheck: Runner) -> None:
    (kit / ".mpcheck").mkdir()
    (kit / ".mpcheck" / "last-run.json").write_text("{oops", encoding="utf-8")
    result = mpcheck("status", cwd=kit)
    assert result.returncode == 1
    assert "cannot be read" in result.stdout
    assert "run pytest exercises/ again" in result.stdout


# -- hint --------------------------------------------------------------------


def _hint_levels(root: Path) -> dict[str, int]:
    data = json.loads((root / ".mpcheck" / "hints.json").read_text(encoding="utf-8"))
    levels: dict[str, int] = data["shown"]
    return levels


def test_hints_come_one_more_at_a_time(kit: Path, mpcheck: Runner) -> None:
    first = run_command("hint", "ex3", cwd=kit)  # the state is kept between processes
    assert first.returncode == 0, first.stderr
    assert "Hint 1 of 3 for ex3_queue: A nudge" in first.stdout
    assert "Ask again for the next hint: mpcheck hint ex3" in first.stdout
    second = mpcheck("hint", "3", cwd=kit)
    assert "Hint 2 of 3 for ex3_queue: The rule" in second.stdout
    assert "Hint 1 of 3" not in second.stdout
    assert "one SENTINEL per consumer" in second.stdout
    third = mpcheck("hint", "ex3_queue", cwd=kit)
    assert "Hint 3 of 3 for ex3_queue: The shape of the code" in third.stdout
    assert "        while True:" in third.stdout  # code keeps its indentation
    assert "That was the last hint for ex3_queue" in third.stdout
    again = mpcheck("hint", "ex3", cwd=kit)
    assert "Hint 3 of 3" in again.stdout
    assert _hint_levels(kit) == {"ex3_queue": 3}
    # Another exercise starts at its own first hint.
    assert "Hint 1 of 3 for ex1_process" in mpcheck("hint", "1", cwd=kit).stdout
    assert _hint_levels(kit) == {"ex1_process": 1, "ex3_queue": 3}


def test_hint_all_repeats_without_a_new_one(kit: Path, mpcheck: Runner) -> None:
    mpcheck("hint", "ex4", cwd=kit)
    mpcheck("hint", "ex4", cwd=kit)
    result = mpcheck("hint", "ex4", "--all", cwd=kit)
    assert "Hint 1 of 3" in result.stdout
    assert "Hint 2 of 3" in result.stdout
    assert "Hint 3 of 3" not in result.stdout
    assert _hint_levels(kit) == {"ex4_manager": 2}


def test_hints_in_korean(kit: Path, mpcheck: Runner) -> None:
    first = mpcheck("hint", "ex1", cwd=kit, lang="ko")
    assert "ex1_process 힌트 3개 중 1번째: 살짝 귀띔" in first.stdout
    assert "동시에 돌아가는 워커는 몇 개일까요?" in first.stdout
    assert "다음 힌트를 보려면 다시 입력하세요: mpcheck hint ex1" in first.stdout
    mpcheck("hint", "ex1", cwd=kit, lang="ko")
    third = mpcheck("hint", "ex1", cwd=kit, lang="ko")
    assert "start_workers의 골격:" in third.stdout
    assert "# 끝나기를 기다리기" in third.stdout


def test_hint_without_a_name_is_for_the_next_exercise(kit: Path, mpcheck: Runner) -> None:
    assert "for ex1_process" in mpcheck("hint", cwd=kit).stdout
    record_some_progress(kit)
    assert "Hint 1 of 3 for ex2_pool" in mpcheck("hint", cwd=kit).stdout


def test_an_unknown_exercise_is_refused_in_one_sentence(kit: Path, mpcheck: Runner) -> None:
    result = mpcheck("hint", "ex9", cwd=kit)
    assert result.returncode == 2
    assert result.stdout.strip() == (
        "unknown exercise 'ex9': choose one of ex1_process, ex2_pool, ex3_queue, "
        "ex4_manager, ex5_speedup (or just its number, 1 to 5)"
    )
    korean = mpcheck("hint", "ex9", cwd=kit, lang="ko")
    assert "'ex9'은(는) 없는 연습 문제입니다" in korean.stdout


def test_a_bad_language_is_a_usage_error(kit: Path) -> None:
    result = run_command("status", "--lang", "fr", cwd=kit)
    assert result.returncode == 2
    assert "argument --lang: choose one of en, ko" in result.stderr


@pytest.mark.parametrize("name", EXERCISES)
def test_the_hints_leave_the_work_to_the_learner(name: str) -> None:
    nudge, _rule, shape = HINTS[name]
    assert nudge.rstrip().endswith("?")  # a nudge asks, it does not tell
    # The shape hint is a skeleton: the learner's part is left as "...".
    assert shape.count("...") >= 2
    solution = Path(__file__).parents[1] / "solutions" / f"{name}.py"
    if not solution.exists():
        pytest.skip("no reference solution in this checkout")
    code = {
        line.strip()
        for line in solution.read_text(encoding="utf-8").splitlines()
        if line.strip()
        and not line.strip().startswith(("#", '"', "'", "import ", "from ", "def ", "@"))
    }
    given = {line.strip() for hint in HINTS[name] for line in hint.splitlines()}
    # A few lines are the pattern's frame (a loop header, a return); most are not given.
    assert len(code & given) <= max(2, len(code) // 4), sorted(code & given)


# -- reset -------------------------------------------------------------------


def _edit(root: Path, name: str) -> Path:
    path = root / "exercises" / f"{name}.py"
    path.write_text("def start_workers(n):\n    return []  # my attempt\n", encoding="utf-8")
    return path


def test_reset_asks_and_a_no_keeps_the_file(kit: Path, mpcheck: Runner) -> None:
    path = _edit(kit, "ex1_process")
    result = mpcheck("reset", "ex1", cwd=kit, stdin="n\n")
    assert "Put exercises/ex1_process.py back to its original text?" in result.stdout
    assert "[y/N]" in result.stdout
    assert "Nothing changed." in result.stdout
    assert "my attempt" in path.read_text(encoding="utf-8")
    # No answer at all (end of input) is a no as well.
    assert "Nothing changed." in mpcheck("reset", "ex1", cwd=kit).stdout
    assert "my attempt" in path.read_text(encoding="utf-8")


def test_reset_after_a_yes_restores_the_stub_and_keeps_a_backup(kit: Path, mpcheck: Runner) -> None:
    path = _edit(kit, "ex1_process")
    result = mpcheck("reset", "ex1", cwd=kit, stdin="y\n")
    assert result.returncode == 0, result.stderr
    assert "exercises/ex1_process.py is back to its original text." in result.stdout
    assert path.read_text(encoding="utf-8") == original_stub("ex1_process")
    backups = list((kit / ".mpcheck" / "backup").iterdir())
    assert len(backups) == 1
    assert "my attempt" in backups[0].read_text(encoding="utf-8")
    assert str(backups[0].relative_to(kit)) in result.stdout
    again = mpcheck("reset", "ex1", "--yes", cwd=kit)
    assert "already the original stub: nothing to do" in again.stdout


def test_reset_with_yes_does_not_ask(kit: Path, mpcheck: Runner) -> None:
    path = _edit(kit, "ex5_speedup")
    result = mpcheck("reset", "5", "--yes", cwd=kit)
    assert "[y/N]" not in result.stdout
    assert path.read_text(encoding="utf-8") == original_stub("ex5_speedup")


def test_reset_in_korean(kit: Path) -> None:
    path = _edit(kit, "ex3_queue")
    result = run_command("reset", "ex3", cwd=kit, lang="ko", stdin="예\n")
    assert "exercises/ex3_queue.py을(를) 원래 내용으로 되돌릴까요?" in result.stdout
    assert "원래 내용으로 되돌렸습니다." in result.stdout
    assert "이전 내용은" in result.stdout
    assert path.read_text(encoding="utf-8") == original_stub("ex3_queue")


def test_reset_recreates_a_deleted_stub(kit: Path, mpcheck: Runner) -> None:
    path = kit / "exercises" / "ex4_manager.py"
    path.unlink()
    result = mpcheck("reset", "ex4", "--yes", cwd=kit)
    assert result.returncode == 0, result.stderr
    assert path.read_text(encoding="utf-8") == original_stub("ex4_manager")


# -- the shipped stubs -------------------------------------------------------


@pytest.mark.parametrize("name", EXERCISES)
def test_shipped_stubs_are_identical_to_the_exercises(name: str) -> None:
    stub = Path(__file__).parents[1] / "exercises" / f"{name}.py"
    assert original_stub(name) == stub.read_text(encoding="utf-8"), (
        f"pytest_mpcheck/learner/stubs/{name}.py.txt differs from exercises/{name}.py: "
        "copy the stub there again"
    )


# -- with the real kit ---------------------------------------------------------


def test_a_kit_run_in_korean_feeds_status(tmp_path: Path) -> None:
    """The kit's own tests, in Korean, leave the record that ``mpcheck status`` shows."""
    source = Path(__file__).parents[1] / "exercises"
    if not (source / "test_ex1_process.py").exists():
        pytest.skip("the kit's tests are not in this checkout")
    shutil.copytree(source, tmp_path / "exercises", ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG", "MPCHECK"))}
    env["LANG"] = "C.UTF-8"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "exercises",
            "--mpcheck-lang",
            "ko",
            "-k",
            "test_worker_prints_its_number_and_pid and spawn",
            "-p",
            "no:cacheprovider",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    # The untouched stub fails with the kit's diagnosis, in Korean.
    assert "ex1_process.py의 worker을(를) 아직 작성하지 않았습니다" in run.stdout
    status = run_command("status", cwd=tmp_path, lang="ko")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "✗ ex1_process" in status.stdout
    assert "다음 할 일: ex1_process (exercises/ex1_process.py)" in status.stdout
    assert "아직 작성하지 않았습니다" in status.stdout
    assert "아직 실행 안 함" in status.stdout  # ex2..ex5 did not run
