"""The plugin is installed as ``mpcheck`` and can be turned off with ``-p no:mpcheck``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import pytest_mpcheck


def test_plugin_is_registered_under_its_entry_point_name(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_registered(pytestconfig):
            assert pytestconfig.pluginmanager.has_plugin("mpcheck")
            assert pytestconfig.pluginmanager.has_plugin("pytest_mpcheck.fixtures")
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)


def test_no_mpcheck_turns_every_part_off(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_unregistered(pytestconfig):
            assert not pytestconfig.pluginmanager.has_plugin("mpcheck")
            assert not pytestconfig.pluginmanager.has_plugin("pytest_mpcheck.fixtures")
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:mpcheck")
    result.assert_outcomes(passed=1)


def test_public_api_lists_only_what_exists() -> None:
    for name in pytest_mpcheck.__all__:
        assert hasattr(pytest_mpcheck, name), name
    assert issubclass(pytest_mpcheck.MpcheckWarning, pytest.PytestWarning)


def test_mpcheck_output_piped_into_head_ends_quietly(tmp_path: Path) -> None:
    """`mpcheck ... | head` must not end in a BrokenPipeError traceback."""
    exe = Path(sys.executable).with_name("mpcheck")
    proc = subprocess.run(
        f"'{exe}' hint ex1 --all | head -1",
        shell=True,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "BrokenPipeError" not in proc.stderr, proc.stderr
    assert proc.stdout.strip(), "head printed nothing: mpcheck wrote no hint"
