"""The kit's tests of ex4_manager.py: shared state through a Manager (20 points).

Run them with ``pytest exercises/test_ex4_manager.py`` (or ``-k ex4_manager``). Each test runs
once per start method (spawn, forkserver, fork); your code runs in a separate,
supervised process, and a failure says what to fix.
"""

from __future__ import annotations

import pytest

from pytest_mpcheck.kit import checks
from pytest_mpcheck.kit.plugin import Kit


@pytest.mark.points(4)
def test_worker_sets_the_key_then_appends_it(mpcheck_kit: Kit, mp_start_method: str) -> None:
    """``worker(d, l, key, value)`` does ``d[key] = value``, then ``l.append(key)``."""
    checks.ex4_worker(mpcheck_kit)


@pytest.mark.points(8)
def test_collect_sees_what_every_process_wrote(mpcheck_kit: Kit, mp_start_method: str) -> None:
    """``collect(n)`` returns ``{i: i * 10}`` and every key: one dict and list shared by all."""
    checks.ex4_collect(mpcheck_kit)


@pytest.mark.points(8)
def test_collect_returns_plain_copies_and_stops_the_manager(
    mpcheck_kit: Kit, mp_start_method: str
) -> None:
    """``collect`` returns a plain ``dict`` and ``list`` (no proxies); its manager is gone."""
    checks.ex4_plain_copies(mpcheck_kit)
