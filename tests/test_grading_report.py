"""``--mpcheck-report``: each format's schema, crashes, time-outs, xdist, bad paths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

SUITE = """
    import os
    import pytest

    @pytest.mark.points(6)
    @pytest.mark.parametrize("method", ["spawn", "forkserver", "fork"])
    def test_split(method):
        if method == "fork":
            pytest.fail("consumer took an item after its sentinel: 3", pytrace=False)

    @pytest.mark.points(4)
    def test_speedup():
        pytest.skip("cannot judge speedup here: 1 effective CPU")

    @pytest.mark.points(2)
    def test_traceback():
        def helper():
            raise ValueError("deep inside")
        helper()
"""


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in report["tests"]}


def test_gradescope_schema(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_ex3_queue=SUITE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--mpcheck-report=out.json")
    result.assert_outcomes(passed=2, failed=2, skipped=1)
    result.stdout.fnmatch_lines(["mpcheck report (gradescope): *out.json: 4 of 8 points"])
    report = _load(pytester.path / "out.json")
    assert set(report) >= {"score", "max_score", "tests", "execution_time"}
    assert report["score"] == 4
    assert report["max_score"] == 8  # the skipped speedup test is not counted
    assert isinstance(report["execution_time"], (int, float))
    for test in report["tests"]:
        assert set(test) >= {"name", "score", "max_score", "status", "output", "visibility"}
        assert test["status"] in ("passed", "failed")
        assert test["name"].startswith("ex3_queue")
    tests = _by_name(report)
    fork = tests["ex3_queue: test_split[fork]"]
    assert fork == {
        **fork,
        "status": "failed",
        "score": 0,
        "max_score": 2,
        "output": "consumer took an item after its sentinel: 3",
    }
    assert tests["ex3_queue: test_split[spawn]"]["status"] == "passed"
    skipped = tests["ex3_queue: test_speedup"]
    assert skipped["max_score"] == 0
    assert "cannot judge speedup here" in skipped["output"]
    traceback = tests["ex3_queue: test_traceback"]
    assert traceback["status"] == "failed"
    assert "ValueError: deep inside" in traceback["output"]
    # Tests keep their collection order.
    assert [t["name"] for t in report["tests"]][:3] == [
        "ex3_queue: test_split[spawn]",
        "ex3_queue: test_split[forkserver]",
        "ex3_queue: test_split[fork]",
    ]


def test_output_is_bounded(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_ex1_big="""
        import pytest

        @pytest.mark.points(1)
        def test_huge_message():
            pytest.fail("x" * 200_000, pytrace=False)

        @pytest.mark.points(1)
        def test_deep_traceback():
            def recurse(n):
                if n == 0:
                    raise RuntimeError("bottom")
                recurse(n - 1)
            recurse(200)
        """
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "--mpcheck-report=out.json")
    tests = _by_name(_load(pytester.path / "out.json"))
    huge = tests["ex1_big: test_huge_message"]["output"]
    assert 1000 < len(huge) < 10_000
    assert "characters cut" in huge
    deep = tests["ex1_big: test_deep_traceback"]["output"]
    assert len(deep) < 10_000
    assert "RuntimeError: bottom" in deep


def test_exercism_v3_schema(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_ex3_queue=SUITE, test_ex1_process="def test_a():\n    pass\n")
    pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--mpcheck-report=out.json", "--mpcheck-report-format=exercism"
    )
    report = _load(pytester.path / "out.json")
    assert report["version"] == 3
    assert report["status"] == "fail"
    assert "message" not in report
    statuses = {t["name"]: t["status"] for t in report["tests"]}
    assert "ex3_queue: test_speedup" not in statuses  # skipped: not graded
    assert statuses["ex3_queue: test_split[fork]"] == "fail"
    assert statuses["ex3_queue: test_split[spawn]"] == "pass"
    for test in report["tests"]:
        assert set(test) >= {"name", "status", "test_code", "task_id"}
        assert isinstance(test["task_id"], int)
        if test["status"] == "fail":
            assert test["message"]
    task_ids = {t["name"].split(":")[0]: t["task_id"] for t in report["tests"]}
    assert sorted(task_ids.values()) == [1, 2]


def test_classroom_schema(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_ex3_queue=SUITE)
    pytester.makeini("[pytest]\nmpcheck_report = out.json\nmpcheck_report_format = classroom\n")
    pytester.runpytest_subprocess("-p", "no:cacheprovider")
    report = _load(pytester.path / "out.json")
    assert report["version"] == 1
    assert report["status"] == "fail"
    assert report["max_score"] == 8
    assert sum(t["score"] for t in report["tests"]) == 4
    for test in report["tests"]:
        assert set(test) >= {"name", "status", "message", "score", "test_code"}
        assert test["status"] in ("pass", "fail", "error")


def test_all_passing_is_pass_in_every_format(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_ex2_pool="import pytest\n\n@pytest.mark.points(20)\ndef test_ok():\n    pass\n"
    )
    for fmt, key, expected in [
        ("exercism", "status", "pass"),
        ("classroom", "status", "pass"),
    ]:
        pytester.runpytest_subprocess(
            "-p",
            "no:cacheprovider",
            f"--mpcheck-report={fmt}.json",
            f"--mpcheck-report-format={fmt}",
        ).assert_outcomes(passed=1)
        assert _load(pytester.path / f"{fmt}.json")[key] == expected


def test_unknown_format_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_a():\n    pass\n")
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--mpcheck-report=o.json", "--mpcheck-report-format=moodle"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--mpcheck-report-format 'moodle' is unknown*gradescope*"])


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("missing/out.json", "*the folder*does not exist*"),
        ("afile/out.json", "*the folder*does not exist*"),
        (".", "*is a folder*"),
        ("locked/out.json", "*cannot be written here*"),
    ],
)
def test_bad_report_path_is_a_usage_error(
    pytester: pytest.Pytester, target: str, message: str
) -> None:
    import os

    pytester.makefile(".txt", afile="")
    (pytester.path / "afile.txt").rename(pytester.path / "afile")
    locked = pytester.mkdir("locked")
    locked.chmod(0o500)
    if os.access(locked, os.W_OK):  # root ignores permissions
        locked.chmod(0o700)
        if target.startswith("locked"):
            pytest.skip("running as root: every folder is writable")
    pytester.makepyfile("def test_a():\n    pass\n")
    try:
        result = pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", f"--mpcheck-report={target}"
        )
    finally:
        locked.chmod(0o700)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


CRASHING = """
    import os
    import time
    import pytest

    @pytest.mark.points(5)
    def test_first():
        pass

    @pytest.mark.points(5)
    def test_dies():
        os._exit(7)

    @pytest.mark.points(5)
    def test_never_reached():
        pass
"""


def test_report_is_complete_when_the_pytest_process_dies(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_ex4_manager=CRASHING)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--mpcheck-report=out.json")
    assert result.ret == 7
    report = _load(pytester.path / "out.json")
    assert report["max_score"] == 15
    assert report["score"] == 5
    tests = _by_name(report)
    assert tests["ex4_manager: test_first"]["status"] == "passed"
    dies = tests["ex4_manager: test_dies"]
    assert dies["status"] == "failed"
    assert "ended while this test was running" in dies["output"]
    never = tests["ex4_manager: test_never_reached"]
    assert never["status"] == "failed"
    assert "did not run" in never["output"]


def test_xdist_worker_crash_is_a_failure_with_a_reason(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_ex4_manager=CRASHING)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-n", "2", "--mpcheck-report=out.json"
    )
    result.assert_outcomes(passed=2, failed=1)
    report = _load(pytester.path / "out.json")
    assert report["score"] == 10
    assert report["max_score"] == 15
    dies = _by_name(report)["ex4_manager: test_dies"]
    assert dies["status"] == "failed"
    assert "crashed" in dies["output"]


@pytest.mark.parametrize("method", ["signal", "thread"])
def test_report_is_complete_after_a_pytest_timeout(pytester: pytest.Pytester, method: str) -> None:
    pytester.makepyfile(
        test_ex3_queue="""
        import time
        import pytest

        @pytest.mark.points(5)
        def test_fine():
            pass

        @pytest.mark.points(5)
        def test_hangs():
            time.sleep(60)

        @pytest.mark.points(5)
        def test_after():
            pass
        """
    )
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--timeout=2",
        f"--timeout-method={method}",
        "--mpcheck-report=out.json",
    )
    assert result.ret != 0
    report = _load(pytester.path / "out.json")
    assert report["max_score"] == 15
    tests = _by_name(report)
    assert tests["ex3_queue: test_fine"]["score"] == 5
    hangs = tests["ex3_queue: test_hangs"]
    assert hangs["status"] == "failed"
    if method == "signal":
        assert "Timeout" in hangs["output"]
        assert tests["ex3_queue: test_after"]["status"] == "passed"
        assert report["score"] == 10
    else:
        assert "ended while this test was running" in hangs["output"]
        assert report["score"] == 5


def _without_timing(report: dict[str, Any]) -> dict[str, Any]:
    report = dict(report)
    report.pop("execution_time")
    return report


def test_report_is_the_same_with_and_without_xdist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_ex3_queue=SUITE,
        test_ex1_process="""
        import pytest

        @pytest.mark.points(20)
        @pytest.mark.parametrize("n", range(4))
        def test_many(n):
            assert n != 2, "two is wrong"
        """,
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "--mpcheck-report=serial.json")
    pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-n", "2", "--mpcheck-report=xdist.json"
    )
    serial = _load(pytester.path / "serial.json")
    xdist = _load(pytester.path / "xdist.json")
    assert serial["max_score"] == 28
    assert _without_timing(serial) == _without_timing(xdist)


def test_no_report_without_the_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_ex3_queue=SUITE)
    pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert not list(pytester.path.glob("*.json"))


def test_a_passing_test_can_leave_a_note_in_its_output(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_ex5_speedup="""
        import pytest

        @pytest.mark.points(3)
        def test_noted(request):
            request.node.user_properties.append(("mpcheck_note", "passed on the evidence"))

        @pytest.mark.points(2)
        def test_quiet():
            pass

        @pytest.mark.points(1)
        def test_noted_then_failed(request):
            # Built, so that the traceback's source line does not hold the text.
            request.node.user_properties.append(("mpcheck_note", "never" + " shown"))
            assert False, "the failure is what the output says"
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--mpcheck-report=out.json")
    result.assert_outcomes(passed=2, failed=1)
    tests = _by_name(_load(pytester.path / "out.json"))
    assert tests["ex5_speedup: test_noted"]["output"] == "passed on the evidence"
    assert tests["ex5_speedup: test_noted"]["score"] == 3
    assert tests["ex5_speedup: test_quiet"]["output"] == ""
    failed = tests["ex5_speedup: test_noted_then_failed"]["output"]
    assert "the failure is what the output says" in failed
    assert "never shown" not in failed
