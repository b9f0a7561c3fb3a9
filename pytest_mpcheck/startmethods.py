"""Which ``multiprocessing`` start methods a run tests: ``--mp-start-methods`` and the marker.

Tests that use the ``mp_start_method`` fixture (directly or through ``mp_context``,
``process_group``, ``mp_manager`` or ``timeout_queue``) run once per selected
method. The selection is, in order of precedence:

* ``@pytest.mark.mp_start_methods("spawn", ...)`` narrows one test;
* ``--mp-start-methods spawn,fork`` or the ini setting ``mp_start_methods``;
* by default every method the platform offers, in the order spawn, forkserver, fork.

The public package imports this module before pytest loads it as a plugin, so it
opts out of assertion rewriting (it has no asserts) to avoid pytest's "already
imported" warning: PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import multiprocessing

import pytest

from pytest_mpcheck.plugin import option_group

__all__ = [
    "KNOWN_METHODS",
    "available_methods",
    "marker_methods",
    "parse_methods",
    "selected_methods",
]

#: Every start method CPython knows, in the order the plugin runs them: spawn is the
#: strictest (everything must pickle) and the default on macOS and Windows, fork the
#: most permissive, so a failure under spawn is the most instructive one to see first.
KNOWN_METHODS: tuple[str, ...] = ("spawn", "forkserver", "fork")

MARKER_NAME = "mp_start_methods"

START_METHODS_HELP = (
    "comma-separated start methods to run multiprocessing tests under "
    "(default: every method this platform offers, in the order spawn, forkserver, fork)"
)
MARKER_HELP = (
    f"{MARKER_NAME}(*methods): run this test only under these multiprocessing start methods "
    "(of those selected by --mp-start-methods)"
)

_SELECTED = pytest.StashKey[list[str]]()


def available_methods() -> list[str]:
    """Return the start methods this platform offers, in the order spawn, forkserver, fork."""
    offered = set(multiprocessing.get_all_start_methods())
    return [method for method in KNOWN_METHODS if method in offered]


def parse_methods(value: str, *, source: str = "--mp-start-methods") -> list[str]:
    """Parse a comma-separated list of start methods, keeping the given order.

    Raises :class:`pytest.UsageError` with one sentence naming the valid methods
    when a name is unknown or not offered here, or when the list is empty.
    """
    valid = available_methods()
    methods: list[str] = []
    for raw in value.split(","):
        name = raw.strip()
        if not name:
            continue
        if name not in valid:
            raise pytest.UsageError(
                f"{source}: unknown start method {name!r}; "
                f"valid start methods here are: {', '.join(valid)}."
            )
        if name not in methods:
            methods.append(name)
    if not methods:
        raise pytest.UsageError(f"{source} is empty; name at least one of: {', '.join(valid)}.")
    return methods


def selected_methods(config: pytest.Config) -> list[str]:
    """Return the start methods selected for this run (``--mp-start-methods`` or the ini)."""
    try:
        methods = config.stash[_SELECTED]
        return methods.copy()
    except KeyError:
        # Configured before this plugin's pytest_configure ran (or without it):
        # fall back to the platform's methods rather than failing.
        return available_methods()


def marker_methods(item_or_definition: pytest.Item) -> tuple[list[str], list[str]] | None:
    """Return ``(runnable, not_offered)`` methods named by the test's marker, or ``None``.

    Raises :class:`pytest.UsageError` when the marker names a method CPython does not
    know (a typo); a known method this platform lacks is returned in ``not_offered``.
    """
    markers = list(item_or_definition.iter_markers(MARKER_NAME))
    if not markers:
        return None
    # The closest marker wins (a function's marker overrides its class's or module's).
    names = [str(arg) for arg in markers[0].args]
    unknown = [name for name in names if name not in KNOWN_METHODS]
    if unknown or not names:
        raise pytest.UsageError(
            f"@pytest.mark.{MARKER_NAME} on {item_or_definition.nodeid}: "
            f"unknown start method {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"valid start methods are: {', '.join(KNOWN_METHODS)}."
        )
    offered = available_methods()
    return [n for n in names if n in offered], [n for n in names if n not in offered]


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--mp-start-methods`` and its ini twin ``mp_start_methods``."""
    option_group(parser).addoption(
        "--mp-start-methods",
        dest="mp_start_methods",
        default=None,
        metavar="METHODS",
        help=START_METHODS_HELP,
    )
    parser.addini("mp_start_methods", help=START_METHODS_HELP, default="")


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker and validate the selected start methods (a bad name stops the run)."""
    config.addinivalue_line("markers", MARKER_HELP)
    option = config.getoption("mp_start_methods", default=None)
    if option is not None:
        methods = parse_methods(str(option), source="--mp-start-methods")
    else:
        ini = config.getini("mp_start_methods")
        ini_text = ",".join(ini) if isinstance(ini, list) else str(ini or "")
        methods = (
            parse_methods(ini_text, source="ini setting mp_start_methods")
            if ini_text.strip()
            else available_methods()
        )
    config.stash[_SELECTED] = methods
