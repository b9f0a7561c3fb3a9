"""The progress record `.mpcheck/last-run.json`: the kit writes it, the learner's loop reads it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_mpcheck.learner.progress import (
    EXERCISES,
    ExerciseResult,
    LastRun,
    ProgressFileError,
    RunRecorder,
    kit_root,
    last_run_path,
    read_last_run,
    record_run,
    resolve_exercise,
)


def test_no_file_means_no_run(tmp_path: Path) -> None:
    assert read_last_run(tmp_path) is None


def test_recorder_counts_tests_and_keeps_the_first_failure(tmp_path: Path) -> None:
    recorder = RunRecorder()
    recorder.add("ex1_process", "passed", earned=10, max_points=10, test="t1")
    recorder.add("ex1_process", "failed", max_points=5, message="joined in the loop", test="t2")
    recorder.add("ex1_process", "failed", max_points=5, message="second", test="t3")
    recorder.add("ex5_speedup", "skipped")
    recorder.write(tmp_path)

    data = json.loads(last_run_path(tmp_path).read_text(encoding="utf-8"))
    assert data["schema"] == 1
    ex1 = data["exercises"]["ex1_process"]
    assert (ex1["earned"], ex1["max"], ex1["passed"], ex1["failed"]) == (10, 20, 1, 2)
    assert ex1["first_failure"] == "joined in the loop"
    assert ex1["first_failing_test"] == "t2"

    run = read_last_run(tmp_path)
    assert run is not None
    assert not run.result("ex1_process").passing
    assert run.result("ex5_speedup").ran
    assert not run.result("ex5_speedup").passing
    assert not run.result("ex2_pool").ran


def test_a_run_of_one_exercise_keeps_the_others(tmp_path: Path) -> None:
    first = [ExerciseResult(name, earned=0, passed=0, failed=1) for name in EXERCISES]
    record_run(tmp_path, first)
    record_run(tmp_path, [ExerciseResult("ex3_queue", earned=20, passed=4)])
    run = read_last_run(tmp_path)
    assert run is not None
    assert [run.result(n).passing for n in EXERCISES] == [False, False, True, False, False]


def test_a_run_of_another_implementation_starts_afresh(tmp_path: Path) -> None:
    record_run(tmp_path, [ExerciseResult("ex1_process", earned=20, passed=1)])
    record_run(tmp_path, [ExerciseResult("ex2_pool", passed=1)], impl="solutions")
    run = read_last_run(tmp_path)
    assert run is not None
    assert run.impl == "solutions"
    assert set(run.exercises) == {"ex2_pool"}


@pytest.mark.parametrize("text", ["{not json", '{"exercises": []}', '{"schema": 99}'])
def test_a_damaged_file_is_reported(tmp_path: Path, text: str) -> None:
    path = last_run_path(tmp_path)
    path.parent.mkdir()
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProgressFileError):
        read_last_run(tmp_path)


def test_round_trip(tmp_path: Path) -> None:
    run = LastRun({"ex2_pool": ExerciseResult("ex2_pool", 12.5, 20, 2, 1, 0, "msg", "t")})
    assert LastRun.from_json(json.loads(json.dumps(run.to_json()))) == run


def test_kit_root_is_found_from_inside_the_exercises_folder(tmp_path: Path) -> None:
    (tmp_path / "exercises" / "sub").mkdir(parents=True)
    assert kit_root(tmp_path / "exercises" / "sub") == tmp_path.resolve()


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("3", "ex3_queue"),
        ("ex3", "ex3_queue"),
        ("EX3", "ex3_queue"),
        ("ex3_queue", "ex3_queue"),
        ("exercises/ex3_queue.py", "ex3_queue"),
        ("queue", "ex3_queue"),
        ("5", "ex5_speedup"),
    ],
)
def test_exercise_names_are_forgiving(text: str, name: str) -> None:
    assert resolve_exercise(text) == name


@pytest.mark.parametrize("text", ["6", "ex0", "pool2", ""])
def test_unknown_exercise_names_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="ex1_process"):
        resolve_exercise(text)
