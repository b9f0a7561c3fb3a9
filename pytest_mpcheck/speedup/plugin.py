"""The speedup options and the ``speedup`` fixture.

Options (each with an ini twin) set what every speedup measurement of the run
uses: the time budget of one measurement, the machine-wide lock file, how long
to wait for it, and the speedup a parallel version must reach. They live in
``config.stash``; :func:`get_settings` hands them to whoever measures, including
the kit, which passes them on to a sandbox child: PYTEST_DONT_REWRITE
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_mpcheck.plugin import option_group
from pytest_mpcheck.speedup.assertion import assert_speedup
from pytest_mpcheck.speedup.lock import DEFAULT_LOCK_TIMEOUT, default_lock_path
from pytest_mpcheck.speedup.measure import DEFAULT_BUDGET, SpeedupMeasurement, measure_speedup
from pytest_mpcheck.speedup.verdict import SpeedupVerdict, judge

__all__ = ["SpeedupChecker", "SpeedupSettings", "get_settings"]

BUDGET_HELP = (
    "seconds of wall time one speedup measurement aims to take, waiting for the "
    f"timing lock aside (default {DEFAULT_BUDGET:g})"
)
LOCK_HELP = (
    "the lock file that lets only one timing measurement run at a time on this machine "
    "(default: pytest-mpcheck-timing.lock in the temp directory)"
)
LOCK_TIMEOUT_HELP = (
    "seconds to wait for the timing lock before the speedup test is skipped "
    f"(default {DEFAULT_LOCK_TIMEOUT:g})"
)
MIN_SPEEDUP_HELP = (
    "the speedup a parallel version must reach (default: a quarter of the ideal gain, "
    "1.25 on 2 CPUs)"
)


@dataclass(frozen=True)
class SpeedupSettings:
    """The run's speedup settings (picklable, to hand to a sandbox child)."""

    budget: float = DEFAULT_BUDGET
    lock_path: str | None = None
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    min_speedup: float | None = None

    def measure_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`~pytest_mpcheck.speedup.measure.measure_speedup`."""
        return {
            "budget": self.budget,
            "lock_path": self.lock_path,
            "lock_timeout": self.lock_timeout,
            "min_speedup": self.min_speedup,
        }


_SETTINGS = pytest.StashKey[SpeedupSettings]()


def get_settings(config: pytest.Config) -> SpeedupSettings:
    """Return the run's :class:`SpeedupSettings` (defaults if the plugin did not configure)."""
    return config.stash.get(_SETTINGS, SpeedupSettings())


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the speedup options (and their ini twins) to the ``mpcheck`` group."""
    group = option_group(parser)
    group.addoption(
        "--mpcheck-speedup-budget",
        dest="mpcheck_speedup_budget",
        metavar="SECONDS",
        default=None,
        help=BUDGET_HELP,
    )
    group.addoption(
        "--mpcheck-speedup-lock",
        dest="mpcheck_speedup_lock",
        metavar="PATH",
        default=None,
        help=LOCK_HELP,
    )
    group.addoption(
        "--mpcheck-speedup-lock-timeout",
        dest="mpcheck_speedup_lock_timeout",
        metavar="SECONDS",
        default=None,
        help=LOCK_TIMEOUT_HELP,
    )
    group.addoption(
        "--mpcheck-speedup-min",
        dest="mpcheck_speedup_min",
        metavar="SPEEDUP",
        default=None,
        help=MIN_SPEEDUP_HELP,
    )
    parser.addini("mpcheck_speedup_budget", BUDGET_HELP, default=None)
    parser.addini("mpcheck_speedup_lock", LOCK_HELP, default=None)
    parser.addini("mpcheck_speedup_lock_timeout", LOCK_TIMEOUT_HELP, default=None)
    parser.addini("mpcheck_speedup_min", MIN_SPEEDUP_HELP, default=None)


def _value(config: pytest.Config, name: str) -> str | None:
    raw = config.getoption(name)
    if raw is None:
        ini = config.getini(name)
        raw = ini if isinstance(ini, str) and ini.strip() else None
    return raw.strip() if isinstance(raw, str) else raw


def _positive(config: pytest.Config, name: str, lowest: float = 0.0) -> float | None:
    raw = _value(config, name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value > lowest or value == float("inf"):
        flag = "--" + name.replace("_", "-")
        raise pytest.UsageError(f"{flag}: expected a number above {lowest:g}, got {raw!r}.")
    return value


def pytest_configure(config: pytest.Config) -> None:
    """Validate the speedup options and keep them in ``config.stash``."""
    budget = _positive(config, "mpcheck_speedup_budget")
    timeout = _positive(config, "mpcheck_speedup_lock_timeout")
    min_speedup = _positive(config, "mpcheck_speedup_min", lowest=1.0)
    lock = _value(config, "mpcheck_speedup_lock")
    config.stash[_SETTINGS] = SpeedupSettings(
        budget=DEFAULT_BUDGET if budget is None else budget,
        lock_path=str(Path(lock).expanduser()) if lock else None,
        lock_timeout=DEFAULT_LOCK_TIMEOUT if timeout is None else timeout,
        min_speedup=min_speedup,
    )


class SpeedupChecker:
    """The ``speedup`` fixture: ``speedup(serial, parallel)`` asserts with the run's settings."""

    def __init__(self, settings: SpeedupSettings) -> None:
        self.settings = settings

    @property
    def lock_path(self) -> Path:
        """The machine-wide timing lock this run uses."""
        return Path(self.settings.lock_path) if self.settings.lock_path else default_lock_path()

    def __call__(
        self,
        serial: Callable[[], Any],
        parallel: Callable[[], Any],
        *,
        min_speedup: float | None = None,
    ) -> SpeedupVerdict:
        """Like :func:`~pytest_mpcheck.speedup.assertion.assert_speedup`, with the run's options."""
        kwargs = self.settings.measure_kwargs()
        if min_speedup is not None:
            kwargs["min_speedup"] = min_speedup
        return assert_speedup(serial, parallel, **kwargs)

    def measure(
        self, serial: Callable[[], Any], parallel: Callable[[], Any], **overrides: Any
    ) -> SpeedupMeasurement:
        """Measure only (no verdict), with the run's options unless overridden."""
        kwargs = {**self.settings.measure_kwargs(), **overrides}
        return measure_speedup(serial, parallel, **kwargs)

    def judge(
        self, measurement: SpeedupMeasurement, *, min_speedup: float | None = None
    ) -> SpeedupVerdict:
        """Judge a measurement (for example one taken in a sandbox child)."""
        chosen = self.settings.min_speedup if min_speedup is None else min_speedup
        return judge(measurement, min_speedup=chosen)


@pytest.fixture
def speedup(request: pytest.FixtureRequest) -> SpeedupChecker:
    """Assert speedup with the run's options: ``speedup(serial, parallel)``.

    Fails when the parallel version ran one task after another, skips with
    "cannot judge speedup here: ..." on fewer than 2 effective CPUs or a busy
    machine, and returns the verdict (figures in ``.report()``) when it passes.
    """
    return SpeedupChecker(get_settings(request.config))
