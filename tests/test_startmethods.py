"""Start-method selection: the default, ``--mp-start-methods``, the ini and the marker."""

from __future__ import annotations

import multiprocessing

import pytest

from pytest_mpcheck.startmethods import available_methods, parse_methods

TEST_FILE = """
import multiprocessing
import pytest

def test_method(mp_start_method, mp_context):
    assert mp_context.get_start_method() == mp_start_method
    # The global start method is never touched.
    assert multiprocessing.get_start_method(allow_none=True) is None

@pytest.mark.mp_start_methods("fork", "spawn")
def test_narrowed(mp_start_method):
    assert mp_start_method in ("fork", "spawn")

def test_plain():
    pass
"""


def test_available_methods_are_ordered_and_offered() -> None:
    methods = available_methods()
    assert methods, "no start method at all"
    order = ["spawn", "forkserver", "fork"]
    assert methods == [m for m in order if m in methods]
    assert set(methods) <= set(multiprocessing.get_all_start_methods())


def test_default_runs_every_method_with_the_method_as_id(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TEST_FILE)
    result = pytester.runpytest_subprocess("-v")
    methods = available_methods()
    narrowed = [m for m in methods if m in ("fork", "spawn")]
    result.assert_outcomes(passed=len(methods) + len(narrowed) + 1)
    result.stdout.fnmatch_lines(
        [f"*test_method[[]{m}[]] PASSED*" for m in methods]
        + [f"*test_narrowed[[]{m}[]] PASSED*" for m in narrowed]
    )
    result.stdout.no_fnmatch_line("*test_plain[[]*")


def test_option_selects_methods(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TEST_FILE)
    result = pytester.runpytest_subprocess("-v", "--mp-start-methods", "fork")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*test_method[[]fork[]] PASSED*", "*test_narrowed[[]fork[]]*"])
    result.stdout.no_fnmatch_line("*[[]spawn[]]*")


def test_ini_selects_methods(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nmp_start_methods = spawn, fork\n")
    pytester.makepyfile(TEST_FILE)
    result = pytester.runpytest_subprocess("-v")
    result.assert_outcomes(passed=5)
    result.stdout.no_fnmatch_line("*[[]forkserver[]]*")


def test_option_overrides_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nmp_start_methods = spawn\n")
    pytester.makepyfile(TEST_FILE)
    result = pytester.runpytest_subprocess("-v", "--mp-start-methods=fork")
    result.stdout.fnmatch_lines(["*test_method[[]fork[]] PASSED*"])
    result.stdout.no_fnmatch_line("*[[]spawn[]]*")


def test_marker_outside_the_selection_is_a_visible_skip(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TEST_FILE)
    result = pytester.runpytest_subprocess("-v", "-rs", "--mp-start-methods", "forkserver")
    result.assert_outcomes(passed=2, skipped=2)
    result.stdout.fnmatch_lines(["*start method 'fork' is not selected by --mp-start-methods*"])


@pytest.mark.parametrize(
    ("args", "ini"),
    [
        (("--mp-start-methods", "fork,spwan"), None),
        ((), "[pytest]\nmp_start_methods = spwan\n"),
    ],
    ids=["option", "ini"],
)
def test_unknown_method_is_a_one_sentence_usage_error(
    pytester: pytest.Pytester, args: tuple[str, ...], ini: str | None
) -> None:
    if ini:
        pytester.makeini(ini)
    pytester.makepyfile(TEST_FILE)
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: *unknown start method 'spwan'; valid start methods here are: spawn*"]
    )
    assert "Traceback" not in result.stderr.str()


def test_parse_methods_rejects_an_empty_list_and_keeps_order() -> None:
    methods = available_methods()
    with pytest.raises(pytest.UsageError) as excinfo:
        parse_methods(" , ")
    assert str(excinfo.value) == (
        f"--mp-start-methods is empty; name at least one of: {', '.join(methods)}."
    )
    text = " , ".join([*reversed(methods), methods[0]])
    assert parse_methods(text) == list(reversed(methods))


def test_marker_with_unknown_method_is_reported(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.mp_start_methods("spwan")
        def test_typo(mp_start_method):
            pass
        """
    )
    result = pytester.runpytest_subprocess()
    assert result.ret != pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*unknown start method 'spwan'; valid start methods are:*"])


def test_explicit_parametrization_wins(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("mp_start_method", ["fork"])
        def test_own(mp_context):
            assert mp_context.get_start_method() == "fork"
        """
    )
    result = pytester.runpytest_subprocess("-v")
    result.assert_outcomes(passed=1)


def test_marker_and_options_are_registered(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfigure()
    markers = config.getini("markers")
    assert any(str(m).startswith("mp_start_methods(*methods):") for m in markers)
    help_result = pytester.runpytest_subprocess("--help")
    help_result.stdout.fnmatch_lines(
        ["*mpcheck*", "*--mp-start-methods=METHODS*", "*mp_start_methods (*"]
    )
