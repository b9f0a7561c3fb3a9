"""pytest-mpcheck: a pytest plugin and exercise kit for Python multiprocessing.

The public API: fixtures are found by pytest through the plugin; what a suite
imports is re-exported here.
"""

from __future__ import annotations

from pytest_mpcheck.exceptions import MpcheckError, MpcheckUsageError, MpcheckWarning
from pytest_mpcheck.startmethods import available_methods

__version__ = "0.1.0"

__all__ = [
    "MpcheckError",
    "MpcheckUsageError",
    "MpcheckWarning",
    "__version__",
    "available_methods",
]
