"""The kit's tests of ex3_queue.py: producer and consumers with a sentinel (20 points).

Run them with ``pytest exercises/test_ex3_queue.py`` (or ``-k ex3_queue``). Each test runs
once per start method (spawn, forkserver, fork); your code runs in a separate,
supervised process, and a failure says what to fix.
"""

from __future__ import annotations

import pytest

from pytest_mpcheck.kit import checks
from pytest_mpcheck.kit.plugin import Kit


@pytest.mark.points(3)
def test_producer_puts_items_then_one_sentinel_per_consumer(
    mpcheck_kit: Kit, mp_start_method: str
) -> None:
    """``producer(q, items, k)`` puts every item in order, then exactly k sentinels."""
    checks.ex3_producer(mpcheck_kit)


@pytest.mark.points(3)
def test_consumer_returns_right_after_its_sentinel(mpcheck_kit: Kit, mp_start_method: str) -> None:
    """``consumer`` forwards each item in order and stops at its sentinel, taking no more."""
    checks.ex3_consumer(mpcheck_kit)


@pytest.mark.points(4)
def test_producer_and_consumers_shut_down_on_their_sentinels(
    mpcheck_kit: Kit, mp_start_method: str
) -> None:
    """Your producer and two of your consumers, in processes, end cleanly on the sentinels.

    Checked by the plugin's sentinel-shutdown assertion, which watches every queue call.
    """
    checks.ex3_shutdown(mpcheck_kit)


@pytest.mark.points(3)
def test_run_pipeline_keeps_the_order_with_one_consumer(
    mpcheck_kit: Kit, mp_start_method: str
) -> None:
    """With one consumer every item comes back exactly once, first in first out."""
    checks.ex3_pipeline_order(mpcheck_kit)


@pytest.mark.points(3)
def test_run_pipeline_stops_every_consumer(mpcheck_kit: Kit, mp_start_method: str) -> None:
    """With three consumers every item comes back once and every process exits with 0."""
    checks.ex3_pipeline_consumers(mpcheck_kit)


@pytest.mark.points(4)
def test_run_pipeline_moves_20000_items_without_deadlock(
    mpcheck_kit: Kit, mp_start_method: str
) -> None:
    """20,000 items of 1 KiB go through: results are drained before the processes are joined."""
    checks.ex3_pipeline_big(mpcheck_kit)
