"""English and Korean: the catalog is complete and compiled, and the language is chosen right.

The catalog checks read the source with babel (a dev dependency), as
``pybabel extract`` does; the run-time checks use the shipped ``.mo`` only.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

import pytest_mpcheck
from pytest_mpcheck import i18n

PACKAGE = Path(pytest_mpcheck.__file__).parent
PO = PACKAGE / "locale" / "ko" / "LC_MESSAGES" / "mpcheck.po"
MO = PO.with_suffix(".mo")
# The same keywords as the extraction command in CONTRIBUTING.md ("Translations").
KEYWORDS: dict[str, tuple[int, ...] | None] = {"_": None, "N_": None, "ngettext": (1, 2)}
PLACEHOLDER = re.compile(r"(?<!\{)\{([^{}]*)\}")


def _messages_in_code() -> dict[str, str]:
    """Every message the code marks, mapped to where it is (file:line)."""
    found: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(PACKAGE), method_map=[("**.py", "python")], keywords=KEYWORDS
    ):
        ids = message if isinstance(message, tuple) else (message,)
        found.setdefault(ids[0], f"pytest_mpcheck/{filename}:{lineno}")
    return found


def _read_catalog(path: Path) -> Catalog:
    with path.open("rb") as fh:
        return read_po(fh, locale="ko") if path.suffix == ".po" else read_mo(fh)


def _po_catalog() -> Iterator[tuple[str, tuple[str, ...], bool]]:
    """(msgid, its Korean strings, fuzzy) for each message of the .po file."""
    for msg in _read_catalog(PO):
        if msg.id:
            msgid = msg.id if isinstance(msg.id, str) else msg.id[0]
            strings = (msg.string,) if isinstance(msg.string, str) else tuple(msg.string)
            yield msgid, strings, msg.fuzzy


def _translations(path: Path) -> dict[str, tuple[str, ...]]:
    """What a catalog translates, as gettext will use it (no fuzzy or empty entries)."""
    found = {}
    for msg in _read_catalog(path):
        if msg.id and not msg.fuzzy:
            msgid = msg.id if isinstance(msg.id, str) else msg.id[0]
            strings = (msg.string,) if isinstance(msg.string, str) else tuple(msg.string)
            if all(strings):
                found[msgid] = strings
    return found


def _placeholders(text: str) -> set[str]:
    return {match.split(":")[0].split("!")[0] for match in PLACEHOLDER.findall(text)}


@pytest.fixture(autouse=True)
def _restore_language() -> Iterator[None]:
    before = i18n.current_language()
    yield
    i18n.set_language(before)


def test_every_message_in_the_code_has_a_korean_translation() -> None:
    translated = {msgid for msgid, strings, fuzzy in _po_catalog() if all(strings) and not fuzzy}
    missing = {msg: where for msg, where in _messages_in_code().items() if msg not in translated}
    assert not missing, (
        "messages without a Korean translation (re-run the commands under 'Translations' "
        "in CONTRIBUTING.md and translate them):\n"
        + "\n".join(f"  {where}: {msg!r}" for msg, where in sorted(missing.items()))
    )


def test_translations_keep_every_placeholder() -> None:
    wrong = [
        (msgid, string)
        for msgid, strings, fuzzy in _po_catalog()
        for string in strings
        if string and not fuzzy and _placeholders(string) != _placeholders(msgid)
    ]
    assert not wrong


def test_the_compiled_catalog_matches_the_po_file() -> None:
    assert _translations(MO) == _translations(PO), (
        "mpcheck.mo is out of date: run pybabel compile (see 'Translations' in CONTRIBUTING.md)"
    )


def test_korean_at_run_time_needs_no_babel() -> None:
    code = (
        "import sys; sys.modules['babel'] = None\n"
        "from pytest_mpcheck.i18n import _, ngettext, set_language\n"
        "set_language('ko')\n"
        "print(_('passing'))\n"
        "print(ngettext('{failed} of {total} test failing', "
        "'{failed} of {total} tests failing', 2).format(failed=1, total=2))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert out.splitlines() == ["통과", "테스트 2개 중 1개 실패"]


def test_language_follows_set_language() -> None:
    assert i18n.set_language("ko") == "ko"
    assert i18n._("Nothing changed.") == "아무것도 바꾸지 않았습니다."
    assert i18n.set_language("en") == "en"
    assert i18n._("Nothing changed.") == "Nothing changed."
    assert i18n.N_("Nothing changed.") == "Nothing changed."


@pytest.mark.parametrize("value", ["KO", "ko_KR", "ko-KR.UTF-8"])
def test_language_names_are_forgiving(value: str) -> None:
    assert i18n.set_language(value) == "ko"


@pytest.mark.parametrize("value", ["fr", "", "english"])
def test_unknown_languages_are_refused_in_one_sentence(value: str) -> None:
    with pytest.raises(ValueError, match=r"^unknown language .*: choose one of en, ko$"):
        i18n.set_language(value)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "en"),
        ({"LANG": "ko_KR.UTF-8"}, "ko"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({"LC_ALL": "en_US.UTF-8", "LANG": "ko_KR.UTF-8"}, "en"),
        ({"LC_MESSAGES": "ko_KR", "LANG": "en_US"}, "ko"),
        ({"LANGUAGE": "fr:ko:en", "LANG": "en_US"}, "ko"),
        ({"LANGUAGE": "", "LANG": "ko_KR"}, "ko"),
        ({"MPCHECK_LANG": "en", "LANG": "ko_KR.UTF-8"}, "en"),
        ({"MPCHECK_LANG": "ko", "LANG": "C"}, "ko"),
        ({"MPCHECK_LANG": "xx", "LANG": "ko_KR"}, "ko"),
    ],
)
def test_the_default_language_comes_from_the_environment(
    environ: dict[str, str], expected: str
) -> None:
    assert i18n.detect_language(environ) == expected


# -- the pytest option -------------------------------------------------------

LANGUAGE_PROBE = """
    import os, subprocess, sys
    from pytest_mpcheck.i18n import _, current_language

    def test_language():
        print("LANGUAGE=" + current_language() + " ENV=" + os.environ.get("MPCHECK_LANG", "-"))
        print("SAYS=" + _("Nothing changed."))
        # A child process (as the sandbox starts them) speaks the same language.
        code = "from pytest_mpcheck.i18n import _; print(_('Nothing changed.'))"
        child = subprocess.run([sys.executable, "-c", code], capture_output=True,
                               text=True, timeout=60).stdout
        print("CHILD=" + child.strip())
"""


def _clean_env(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    for var in ("MPCHECK_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def test_option_chooses_korean(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    _clean_env(monkeypatch)
    pytester.makepyfile(LANGUAGE_PROBE)
    result = pytester.runpytest_subprocess("-s", "--mpcheck-lang", "ko")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*LANGUAGE=ko ENV=ko*",
            "*SAYS=아무것도 바꾸지 않았습니다.*",
            "*CHILD=아무것도 바꾸지 않았습니다.*",
        ]
    )


def test_ini_chooses_korean_and_the_option_wins(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _clean_env(monkeypatch)
    pytester.makeini("[pytest]\nmpcheck_lang = ko\n")
    pytester.makepyfile(LANGUAGE_PROBE)
    result = pytester.runpytest_subprocess("-s")
    result.stdout.fnmatch_lines(["*LANGUAGE=ko ENV=ko*"])
    result = pytester.runpytest_subprocess("-s", "--mpcheck-lang=en")
    result.stdout.fnmatch_lines(["*LANGUAGE=en ENV=en*", "*SAYS=Nothing changed.*"])


@pytest.mark.parametrize(
    ("env", "expected", "said"),
    [
        ({"LANG": "ko_KR.UTF-8"}, "ko", "아무것도 바꾸지 않았습니다."),
        ({}, "en", "Nothing changed."),
    ],
)
def test_default_comes_from_the_locale(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    expected: str,
    said: str,
) -> None:
    _clean_env(monkeypatch, **env)
    pytester.makepyfile(LANGUAGE_PROBE)
    result = pytester.runpytest_subprocess("-s")
    result.stdout.fnmatch_lines([f"*LANGUAGE={expected} ENV=-*", f"*CHILD={said}*"])


def test_a_bad_language_is_a_one_sentence_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _clean_env(monkeypatch)
    pytester.makepyfile(LANGUAGE_PROBE)
    result = pytester.runpytest_subprocess("--mpcheck-lang", "fr")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.strip()]
    assert errors == ["ERROR: --mpcheck-lang / mpcheck_lang must be one of en, ko, not 'fr'."]


def test_a_bad_ini_language_is_told_in_korean_when_the_locale_is_korean(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _clean_env(monkeypatch, LANG="ko_KR.UTF-8")
    pytester.makeini("[pytest]\nmpcheck_lang = jp\n")
    pytester.makepyfile(LANGUAGE_PROBE)
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: *'jp'이(가) 아니라 en, ko 중 하나여야 합니다."])


def test_the_environment_is_given_back_after_the_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _clean_env(monkeypatch)
    pytester.makepyfile("def test_nothing():\n    pass\n")
    before = os.environ.get("MPCHECK_LANG")
    result = pytester.runpytest_inprocess("--mpcheck-lang", "ko", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert os.environ.get("MPCHECK_LANG") == before
    assert i18n.current_language() == "en"
