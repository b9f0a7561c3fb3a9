"""The ``points(n)`` marker: what a test function is worth when grading.

``@pytest.mark.points(n)`` gives a test *function* the worth ``n``. When the function
is parametrized (for example once per start method by ``mp_start_method``), its
instances share ``n`` equally, so a test worth 6 points run under spawn, forkserver
and fork is worth 2 points per instance. Instances that carry an unconditional
``skip`` mark at collection are left out of the split, so the function stays worth
``n`` on a platform that lacks a start method. A test without the marker is worth 0.

The worth of each collected test is computed where tests are collected (the pytest
process, or each pytest-xdist worker) and carried to where reports are read (the
controller under xdist) on the report's ``user_properties``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest

from pytest_mpcheck.i18n import _

MARKER_NAME = "points"
#: The key of the ``user_properties`` entry that carries a test's worth on its reports.
PROPERTY_NAME = "mpcheck_points"
#: The ``user_properties`` name whose value a passed test's report shows as its
#: ``output`` (a test may pass and still have something to say).
NOTE_PROPERTY = "mpcheck_note"

MARKER_HELP = (
    "points(n): the test function is worth n points when grading; its parametrized "
    "instances share n equally (pytest-mpcheck)."
)


def marker_points(item: pytest.Item) -> float | None:
    """Return the ``n`` of the closest ``points`` marker of ``item``, or ``None``.

    A bad argument raises :class:`pytest.UsageError` with one clear sentence.
    """
    marker = item.get_closest_marker(MARKER_NAME)
    if marker is None:
        return None
    args = list(marker.args)
    if "n" in marker.kwargs:
        args.insert(0, marker.kwargs["n"])
    if len(args) != 1 or isinstance(args[0], bool) or not isinstance(args[0], (int, float)):
        raise pytest.UsageError(
            _("{nodeid}: the points marker takes one number, as in @pytest.mark.points(5).").format(
                nodeid=item.nodeid
            )
        )
    value = float(args[0])
    if not math.isfinite(value) or value < 0:
        raise pytest.UsageError(
            _("{nodeid}: the points marker needs a number of 0 or more, not {value!r}.").format(
                nodeid=item.nodeid, value=args[0]
            )
        )
    return value


def _function_key(item: pytest.Item) -> str:
    """Return what the parametrized instances of one test function have in common."""
    originalname = getattr(item, "originalname", None)
    if isinstance(originalname, str) and item.parent is not None:
        return f"{item.parent.nodeid}::{originalname}"
    return item.nodeid


def _statically_skipped(item: pytest.Item) -> bool:
    """Whether ``item`` carries an unconditional ``skip`` mark (never runs)."""
    return item.get_closest_marker("skip") is not None


def compute_points(items: Sequence[pytest.Item]) -> dict[str, float]:
    """Return the worth of each item, by node id, splitting ``n`` across instances."""
    worth: dict[str, float | None] = {}
    shares: dict[str, int] = {}
    for item in items:
        n = marker_points(item)
        worth[item.nodeid] = n
        if n is not None and not _statically_skipped(item):
            key = _function_key(item)
            shares[key] = shares.get(key, 0) + 1
    result: dict[str, float] = {}
    for item in items:
        n = worth[item.nodeid]
        count = shares.get(_function_key(item), 0)
        result[item.nodeid] = 0.0 if n is None or count == 0 else n / count
    return result


def note_from_properties(properties: Sequence[tuple[str, object]]) -> str | None:
    """Return what a passed test asked its report to say (:data:`NOTE_PROPERTY`)."""
    notes = [str(value) for name, value in properties if name == NOTE_PROPERTY]
    return "\n".join(notes) if notes else None


def points_from_properties(properties: Sequence[tuple[str, object]]) -> float | None:
    """Return the worth carried on a report's ``user_properties``, if any."""
    for name, value in properties:
        if name == PROPERTY_NAME and isinstance(value, (int, float)):
            return float(value)
    return None
