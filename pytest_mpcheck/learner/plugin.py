"""The message language of a pytest run: ``--mpcheck-lang en|ko`` and ini ``mpcheck_lang``.

The choice is made first thing at configure time, so every message any part of
the plugin builds afterwards (diagnoses, the progress table, hang reports) is in
that language. A language chosen by option or ini is also put in
``MPCHECK_LANG`` for the run's child processes (the sandbox's children,
pytest-xdist workers), which choose theirs from the environment.
"""

from __future__ import annotations

import os

import pytest

from pytest_mpcheck.i18n import LANGUAGES, _, set_language
from pytest_mpcheck.plugin import option_group

LANG_HELP = (
    "language of pytest-mpcheck's messages: en or ko "
    "(default: MPCHECK_LANG, else the locale, else en)"
)

_previous_env = pytest.StashKey[tuple[str | None, str]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--mpcheck-lang`` and its ini twin ``mpcheck_lang``."""
    group = option_group(parser)
    group.addoption("--mpcheck-lang", dest="mpcheck_lang", default=None, help=LANG_HELP)
    parser.addini("mpcheck_lang", LANG_HELP, default="")


def _chosen_language(config: pytest.Config) -> str | None:
    """Return the language asked for (option, then ini), or ``None`` for the default."""
    option = config.getoption("mpcheck_lang")
    if option is not None:
        return str(option)
    return str(config.getini("mpcheck_lang") or "").strip() or None


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Set the message language before any other part of the plugin configures.

    A value other than ``en`` or ``ko`` is a usage error told in one sentence.
    """
    wanted = _chosen_language(config)
    try:
        language = set_language(wanted)
    except ValueError:
        set_language(None)  # tell the error in the language of the environment
        raise pytest.UsageError(
            _("--mpcheck-lang / mpcheck_lang must be one of {choices}, not {value!r}.").format(
                choices=", ".join(LANGUAGES), value=wanted
            )
        ) from None
    if wanted is not None:
        # Children (sandboxed calls, xdist workers) read the environment, not our
        # options. A language that came from the environment needs no export.
        config.stash[_previous_env] = (os.environ.get("MPCHECK_LANG"), language)
        os.environ["MPCHECK_LANG"] = language


def pytest_unconfigure(config: pytest.Config) -> None:
    """Give back the environment and language as they were before this run."""
    previous = config.stash.get(_previous_env, None)
    if previous is None:
        return
    before, _language = previous
    if before is None:
        os.environ.pop("MPCHECK_LANG", None)
    else:
        os.environ["MPCHECK_LANG"] = before
    set_language(None)
