"""The ``points`` marker and the scoreboard, end to end through pytester."""

from __future__ import annotations

import json

import pytest

SCOREBOARD_DUMP = """
    import json
    import pytest
    from pytest_mpcheck.grading.scores import get_scoreboard

    def pytest_sessionfinish(session):
        board = get_scoreboard(session.config)
        data = {
            "score": board.score,
            "max_score": board.max_score,
            "tests": {
                t.nodeid: [t.final_status, t.score, t.max_score] for t in board.ordered()
            },
            "exercises": {
                name: [e.score, e.max_score, e.passed, e.failed, e.skipped]
                for name, e in board.exercises().items()
            },
        }
        with open("board.json", "w") as fh:
            json.dump(data, fh)
"""


def _board(pytester: pytest.Pytester) -> dict[str, object]:
    data: dict[str, object] = json.loads((pytester.path / "board.json").read_text())
    return data


def test_points_are_shared_by_parametrized_instances(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(SCOREBOARD_DUMP)
    pytester.makepyfile(
        test_ex1_demo="""
        import pytest

        @pytest.mark.points(6)
        @pytest.mark.parametrize("method", ["spawn", "forkserver", "fork"])
        def test_split(method):
            assert method != "fork"

        @pytest.mark.points(4)
        def test_whole():
            pass

        def test_worth_nothing():
            pass
        """,
        test_ex2_thirds="""
        import pytest

        @pytest.mark.points(20)
        @pytest.mark.parametrize("i", range(3))
        def test_third(i):
            pass
        """,
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=7, failed=1)
    board = _board(pytester)
    tests = board["tests"]
    assert isinstance(tests, dict)
    assert tests["test_ex1_demo.py::test_split[spawn]"] == ["passed", 2, 2]
    assert tests["test_ex1_demo.py::test_split[fork]"] == ["failed", 0, 2]
    assert tests["test_ex1_demo.py::test_whole"] == ["passed", 4, 4]
    assert tests["test_ex1_demo.py::test_worth_nothing"] == ["passed", 0, 0]
    assert board["score"] == 28
    assert board["max_score"] == 30
    # 20/3 per instance adds up to exactly 20.
    assert board["exercises"] == {"ex1_demo": [8, 10, 4, 1, 0], "ex2_thirds": [20, 20, 3, 0, 0]}


def test_skipped_tests_are_left_out_of_max_score(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(SCOREBOARD_DUMP)
    pytester.makepyfile(
        test_ex5_speed="""
        import pytest

        @pytest.mark.points(10)
        def test_verdict():
            pytest.skip("cannot judge speedup here: 1 effective CPU")

        @pytest.mark.points(10)
        def test_results():
            pass
        """,
        # An instance skipped at collection (a start method the platform lacks) does not
        # take its share: the function stays worth its 6 points.
        test_ex1_methods="""
        import pytest

        @pytest.mark.points(6)
        @pytest.mark.parametrize(
            "method",
            ["spawn", "forkserver", pytest.param("fork", marks=pytest.mark.skip("no fork"))],
        )
        def test_each(method):
            pass
        """,
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=3, skipped=2)
    board = _board(pytester)
    assert board["score"] == 16
    assert board["max_score"] == 16
    assert board["exercises"] == {"ex5_speed": [10, 10, 1, 0, 1], "ex1_methods": [6, 6, 2, 0, 1]}


def test_setup_and_teardown_errors_count_as_failed(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(SCOREBOARD_DUMP)
    pytester.makepyfile(
        test_ex3_fixtures="""
        import pytest

        @pytest.fixture
        def broken_setup():
            raise RuntimeError("setup went wrong")

        @pytest.fixture
        def broken_teardown():
            yield
            raise RuntimeError("teardown went wrong")

        @pytest.mark.points(3)
        def test_setup(broken_setup):
            pass

        @pytest.mark.points(3)
        def test_teardown(broken_teardown):
            pass

        @pytest.mark.points(3)
        def test_fine():
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=2)
    board = _board(pytester)
    tests = board["tests"]
    assert isinstance(tests, dict)
    assert tests["test_ex3_fixtures.py::test_setup"] == ["failed", 0, 3]
    assert tests["test_ex3_fixtures.py::test_teardown"] == ["failed", 0, 3]
    assert board["score"] == 3
    assert board["max_score"] == 9


def test_deselection_does_not_change_the_share(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(SCOREBOARD_DUMP)
    pytester.makepyfile(
        test_ex1_k="""
        import pytest

        @pytest.mark.points(4)
        @pytest.mark.parametrize("method", ["spawn", "fork"])
        def test_each(method):
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-k", "spawn")
    result.assert_outcomes(passed=1)
    board = _board(pytester)
    assert board["score"] == 2
    assert board["max_score"] == 2


@pytest.mark.parametrize("marker", ["points('ten')", "points(-1)"])
def test_bad_points_marker_is_a_usage_error(pytester: pytest.Pytester, marker: str) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.{marker}
        def test_x():
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*the points marker*"])


def test_points_marker_is_registered(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.points(1)
        def test_x():
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=1)


def test_only_runs_the_listed_tests_and_keeps_their_worth(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(SCOREBOARD_DUMP)
    pytester.makepyfile(
        test_ex1_only="""
        import pytest

        @pytest.mark.points(6)
        @pytest.mark.parametrize("method", ["spawn", "forkserver", "fork"])
        def test_each(method):
            pass

        @pytest.mark.points(4)
        def test_other():
            pass
        """
    )
    only = pytester.path / "only.txt"
    only.write_text("test_ex1_only.py::test_each[fork]\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--mpcheck-only={only}")
    result.assert_outcomes(passed=1, deselected=3)
    board = _board(pytester)
    assert board["tests"] == {"test_ex1_only.py::test_each[fork]": ["passed", 2, 2]}
