"""Learner-facing messages in English and Korean, through gettext catalogs.

Write every message a learner, instructor or suite author reads as
``_("... {name} ...").format(name=...)`` so that ``pybabel extract`` finds it and
the Korean catalog in ``locale/ko/LC_MESSAGES/mpcheck.po`` can translate it.
The language is looked up at call time, so a message built after
:func:`set_language` follows it.
"""

from __future__ import annotations

import gettext
import os
from pathlib import Path

DOMAIN = "mpcheck"
LOCALE_DIR = Path(__file__).with_name("locale")
LANGUAGES = ("en", "ko")

_translation: gettext.NullTranslations | None = None
_language: str | None = None


def detect_language(environ: dict[str, str] | None = None) -> str:
    """Return ``"ko"`` or ``"en"`` from ``MPCHECK_LANG`` or else the locale variables."""
    env = os.environ if environ is None else environ
    explicit = env.get("MPCHECK_LANG", "").strip().lower()
    if explicit in LANGUAGES:
        return explicit
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(var, "")
        if value:
            return "ko" if value.split(":")[0].lower().startswith("ko") else "en"
    return "en"


def set_language(language: str | None) -> str:
    """Choose the message language (``None`` means: from the environment); return it."""
    global _translation, _language
    chosen = detect_language() if language is None else language
    if chosen not in LANGUAGES:
        raise ValueError(f"unknown language {chosen!r}: choose one of {', '.join(LANGUAGES)}")
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
