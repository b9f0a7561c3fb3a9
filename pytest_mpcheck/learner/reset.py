"""``mpcheck reset EXERCISE``: put a stub back to its original text, after asking.

The original stubs ship inside the package (``learner/stubs/<name>.py.txt``, kept
identical to ``exercises/<name>.py`` by a test; the ``.txt`` suffix keeps them
out of imports, linters and type checks). The learner's text is not lost: it is
copied to ``.mpcheck/backup/`` first.
"""

from __future__ import annotations

import argparse
import sys
import time
from importlib import resources
from pathlib import Path

from pytest_mpcheck.i18n import _
from pytest_mpcheck.learner.progress import resolve_exercise, state_dir

__all__ = ["YES_ANSWERS", "confirm", "original_stub", "reset_command"]

# What counts as "yes" at the prompt, in English and in Korean.
YES_ANSWERS = frozenset({"y", "yes", "예", "네", "응", "ㅇ", "ㅇㅇ"})


def original_stub(name: str) -> str | None:
    """Return the original text of exercise ``name``'s stub, or ``None`` if none is shipped."""
    source = resources.files("pytest_mpcheck.learner") / "stubs" / f"{name}.py.txt"
    try:
        return source.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None


def confirm(question: str) -> bool:
    """Ask ``question`` on the terminal; only an explicit yes is a yes (end of input is no)."""
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        print()
        return False
    return answer.strip().lower() in YES_ANSWERS


def reset_command(args: argparse.Namespace) -> int:
    """Reset ``args.exercise`` under ``args.root``; 0 when done or declined, else 1 or 2."""
    root: Path = args.root
    try:
        name = resolve_exercise(args.exercise)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    original = original_stub(name)
    if original is None:
        print(
            _("This installation has no original copy of {exercise}.").format(exercise=name),
            file=sys.stderr,
        )
        return 1
    target = root / "exercises" / f"{name}.py"
    shown = Path("exercises", target.name)
    current = target.read_text(encoding="utf-8") if target.exists() else None
    if current == original:
        print(_("{path} is already the original stub: nothing to do.").format(path=shown))
        return 0
    if not args.yes and not confirm(
        _("Put {path} back to its original text? Your changes will be replaced.").format(path=shown)
    ):
        print(_("Nothing changed."))
        return 0
    backup = None
    if current is not None:
        backup_dir = state_dir(root) / "backup"
        backup_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        backup = backup_dir / f"{name}.py.{stamp}"
        count = 1
        while backup.exists():  # two resets within one second keep both versions
            count += 1
            backup = backup_dir / f"{name}.py.{stamp}-{count}"
        backup.write_text(current, encoding="utf-8")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(original, encoding="utf-8")
    print(_("{path} is back to its original text.").format(path=shown))
    if backup is not None:
        print(
            _("Your previous version is kept in {backup}.").format(backup=backup.relative_to(root))
        )
    return 0
