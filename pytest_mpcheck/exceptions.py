"""The warning and error classes pytest-mpcheck raises, so users can filter or catch them."""

from __future__ import annotations

import pytest


class MpcheckWarning(pytest.PytestWarning):
    """Base class of every warning pytest-mpcheck emits.

    Filter them all with ``-W ignore::pytest_mpcheck.MpcheckWarning``.
    """


class MpcheckError(Exception):
    """Base class of the errors pytest-mpcheck raises for problems it diagnoses."""


class MpcheckUsageError(MpcheckError):
    """A bad option value or a missing folder, told in one clear sentence.

    The plugin turns it into ``pytest.UsageError`` at configure time, so pytest
    prints the sentence without a traceback.
    """
