"""The ``mpcheck`` pytest plugin: the entry point that pytest loads.

Each responsibility lives in a module of its own and is itself a plugin module,
listed in ``pytest_plugins`` below, so ``-p no:mpcheck`` turns all of them off at
once. Every module adds its options to the one ``mpcheck`` group through
:func:`option_group`.
"""

from __future__ import annotations

import pytest

GROUP_NAME = "mpcheck"
GROUP_DESCRIPTION = "multiprocessing checks (pytest-mpcheck)"

pytest_plugins = [
    "pytest_mpcheck.startmethods",
    "pytest_mpcheck.fixtures",
    "pytest_mpcheck.leaks",
    "pytest_mpcheck.stacks",
    "pytest_mpcheck.sentinel",
    "pytest_mpcheck.kit.plugin",
    "pytest_mpcheck.speedup.plugin",
    "pytest_mpcheck.grading.plugin",
    "pytest_mpcheck.learner.plugin",
]


def option_group(parser: pytest.Parser) -> pytest.OptionGroup:
    """Return the shared ``mpcheck`` option group of ``parser``."""
    return parser.getgroup(GROUP_NAME, GROUP_DESCRIPTION)
