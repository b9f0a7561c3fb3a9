"""Learner-facing messages in English and Korean, through gettext catalogs.

Write every message a learner, instructor or suite author reads as
``_("... {name} ...").format(name=...)`` so that ``pybabel extract`` finds it and
the Korean catalog in ``locale/ko/LC_MESSAGES/mpcheck.po`` can translate it.
The language is looked up at call time, so a message built after
:func:`set_language` follows it. A message that must be defined before the
language is known (a module constant) is marked with :func:`N_` and translated
with ``_(CONSTANT)`` where it is shown.

Only the standard library's :mod:`gettext` is used at run time: the compiled
``mpcheck.mo`` is shipped in the package (``babel`` is needed only to extract and
compile the catalog; see "Translations" in CONTRIBUTING.md).
"""

from __future__ import annotations

import gettext
import os
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "DOMAIN",
    "LANGUAGES",
    "LOCALE_DIR",
    "N_",
    "_",
    "current_language",
    "detect_language",
    "ngettext",
    "set_language",
]

DOMAIN = "mpcheck"
LOCALE_DIR = Path(__file__).with_name("locale")
LANGUAGES = ("en", "ko")

_translation: gettext.NullTranslations | None = None
_language: str | None = None


def _language_of(value: str) -> str | None:
    """Return ``"ko"``/``"en"`` for a locale name such as ``ko_KR.UTF-8``, else ``None``."""
    code = value.strip().split(".")[0].split("@")[0].replace("-", "_").split("_")[0].lower()
    return code if code in LANGUAGES else None


def detect_language(environ: Mapping[str, str] | None = None) -> str:
    """Return ``"ko"`` or ``"en"`` from ``MPCHECK_LANG`` or else the locale variables.

    ``MPCHECK_LANG`` wins when it names a supported language. Otherwise the
    variables are read in gettext's order (``LANGUAGE``, ``LC_ALL``,
    ``LC_MESSAGES``, ``LANG``); ``LANGUAGE`` may be a priority list such as
    ``ko:en``, whose first supported entry counts. Anything else is English.
    """
    env = os.environ if environ is None else environ
    explicit = _language_of(env.get("MPCHECK_LANG", ""))
    if explicit is not None:
        return explicit
    for entry in env.get("LANGUAGE", "").split(":"):
        found = _language_of(entry)
        if found is not None:
            return found
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(var, "")
        if value:
            # The first locale variable that is set decides, as in the C library.
            return _language_of(value) or "en"
    return "en"


def set_language(language: str | None) -> str:
    """Choose the message language (``None`` means: from the environment); return it.

    Raises :class:`ValueError` (one sentence) for anything but ``en`` or ``ko``;
    case and a region suffix are forgiven (``KO``, ``ko_KR`` mean ``ko``).
    """
    global _translation, _language
    if language is None:
        chosen = detect_language()
    else:
        found = _language_of(language)
        if found is None:
            raise ValueError(f"unknown language {language!r}: choose one of {', '.join(LANGUAGES)}")
        chosen = found
    _translation = gettext.translation(
        DOMAIN, localedir=str(LOCALE_DIR), languages=[chosen], fallback=True
    )
    _language = chosen
    return chosen


def current_language() -> str:
    """Return the language messages are currently given in."""
    if _language is None:
        set_language(None)
    assert _language is not None
    return _language


def _(message: str) -> str:
    """Translate ``message`` into the current language."""
    if _translation is None:
        set_language(None)
    assert _translation is not None
    return _translation.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """Translate a message whose form depends on the count ``n``."""
    if _translation is None:
        set_language(None)
    assert _translation is not None
    return _translation.ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark ``message`` for extraction without translating it (translate with ``_`` later)."""
    return message
