"""The fixtures any suite can use: ``mp_start_method``, ``mp_context`` and friends.

``mp_start_method`` is parametrized in :func:`pytest_generate_tests`, once per start
method selected for the run (see :mod:`pytest_mpcheck.startmethods`), with the method
as the test id: ``test_x[spawn]``, ``test_x[forkserver]``, ``test_x[fork]``. Every
other fixture here depends on it, so using any of them runs the test under each method.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.context import BaseContext

import pytest

from pytest_mpcheck.startmethods import marker_methods, selected_methods

__all__ = ["FIXTURE_NAMES", "mp_context", "mp_start_method"]

#: The plugin's fixtures: a test that uses one of them is a "fixture user" for the
#: leak guard's ``auto`` mode.
FIXTURE_NAMES = frozenset(
    {"mp_start_method", "mp_context", "process_group", "mp_manager", "timeout_queue"}
)


def _explicitly_parametrized(metafunc: pytest.Metafunc) -> bool:
    for marker in metafunc.definition.iter_markers("parametrize"):
        argnames = marker.args[0] if marker.args else marker.kwargs.get("argnames", "")
        names = (
            [n.strip() for n in argnames.split(",")]
            if isinstance(argnames, str)
            else list(argnames)
        )
        if "mp_start_method" in names:
            return True
    return False


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each test that needs ``mp_start_method`` once per selected start method.

    A test that parametrizes ``mp_start_method`` itself keeps its own values.
    """
    if "mp_start_method" not in metafunc.fixturenames or _explicitly_parametrized(metafunc):
        return
    selected = selected_methods(metafunc.config)
    narrowed = marker_methods(metafunc.definition)
    params: list[object]
    if narrowed is None:
        params = [pytest.param(m, id=m) for m in selected]
    else:
        runnable, not_offered = narrowed
        # The intersection, in the run's order (spawn, forkserver, fork by default).
        params = [pytest.param(m, id=m) for m in selected if m in runnable]
        if not params:
            # Nothing left to run: keep the methods the marker asked for as visible
            # skips with the reason, rather than a test that silently vanishes.
            params = [
                pytest.param(
                    m,
                    id=m,
                    marks=pytest.mark.skip(
                        reason=(
                            f"start method {m!r} is not offered here"
                            if m in not_offered
                            else f"start method {m!r} is not selected by --mp-start-methods"
                        )
                    ),
                )
                for m in runnable + not_offered
            ]
    metafunc.parametrize("mp_start_method", params, indirect=True)


@pytest.fixture
def mp_start_method(request: pytest.FixtureRequest) -> str:
    """The start method this instance of the test runs under (``"spawn"``, ...).

    Parametrized by the plugin, once per method selected with ``--mp-start-methods``
    and narrowed by ``@pytest.mark.mp_start_methods``; the method is the test id.
    """
    param = getattr(request, "param", None)
    if param is None:
        # Requested dynamically (getfixturevalue), so not parametrized: the first
        # selected method is the most instructive one.
        return selected_methods(request.config)[0]
    return str(param)


@pytest.fixture
def mp_context(mp_start_method: str) -> BaseContext:
    """A ``multiprocessing`` context for the test's start method.

    Never touches the global start method: ``multiprocessing.get_context`` only.
    """
    return multiprocessing.get_context(mp_start_method)
