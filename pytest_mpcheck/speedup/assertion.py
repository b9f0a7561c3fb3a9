"""``assert_speedup``: measure, judge, then pass, fail or skip the test.

PYTEST_DONT_REWRITE (imported by the public API before pytest loads the plugin)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_mpcheck.speedup.cpus import CpuBudget
from pytest_mpcheck.speedup.lock import DEFAULT_LOCK_TIMEOUT
from pytest_mpcheck.speedup.measure import DEFAULT_BUDGET, measure_speedup
from pytest_mpcheck.speedup.verdict import CANNOT_JUDGE, SpeedupVerdict, judge

__all__ = ["assert_speedup", "raise_for_verdict"]


def raise_for_verdict(verdict: SpeedupVerdict) -> SpeedupVerdict:
    """Fail the test on a failing verdict, skip it on "cannot judge", else return it.

    The failure text is the learner-facing message with its figures
    (``pytest.fail(..., pytrace=False)``, so ``longreprtext`` is exactly that).
    """
    if verdict.failed:
        pytest.fail(verdict.report(), pytrace=False)
    if verdict.kind == CANNOT_JUDGE:
        pytest.skip(verdict.report())
    return verdict


def assert_speedup(
    serial: Callable[[], Any],
    parallel: Callable[[], Any],
    *,
    min_speedup: float | None = None,
    budget: float = DEFAULT_BUDGET,
    lock_path: str | os.PathLike[str] | Path | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    reference: bool = True,
    cpus: CpuBudget | None = None,
) -> SpeedupVerdict:
    """Assert that ``parallel()`` is really parallel and faster than ``serial()``.

    Both are called without arguments (use ``functools.partial`` or a lambda),
    several times each, in this process. The test fails when the evidence shows
    that the parallel version ran one task after another (never on timing
    alone); it is skipped with "cannot judge speedup here: ..." on fewer than 2 effective CPUs
    or when the machine is too busy to tell; otherwise it returns the passing
    :class:`~pytest_mpcheck.speedup.verdict.SpeedupVerdict` (its ``report()``
    has the figures).
    """
    measurement = measure_speedup(
        serial,
        parallel,
        budget=budget,
        min_speedup=min_speedup,
        reference=reference,
        lock_path=lock_path,
        lock_timeout=lock_timeout,
        cpus=cpus,
    )
    return raise_for_verdict(judge(measurement, min_speedup=min_speedup))
