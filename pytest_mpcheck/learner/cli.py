"""The learner's subcommands: ``mpcheck status``, ``hint``, ``watch`` and ``reset``.

Each takes ``--root`` (the kit folder; by default the nearest folder, from the
current one upwards, that holds ``exercises/``) and ``--lang en|ko`` (by default
``MPCHECK_LANG``, else the locale). Help texts are translated too, in the
language of the environment.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_mpcheck.i18n import LANGUAGES, _, set_language
from pytest_mpcheck.learner.progress import kit_root

__all__ = ["register"]

Command = Callable[[argparse.Namespace], int]


def _language(value: str) -> str:
    """Check a ``--lang`` value (argparse turns the error into a one-line usage error)."""
    try:
        return set_language(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            _("choose one of {choices}").format(choices=", ".join(LANGUAGES))
        ) from None


def _with_setup(command: Command) -> Command:
    """Wrap ``command``: choose the language, find the kit root, make output safe."""

    def run(args: argparse.Namespace) -> int:
        set_language(args.lang)
        args.root = kit_root(args.root)
        for stream in (sys.stdout, sys.stderr):
            # A terminal that cannot show Korean or a check mark gets "?" instead of a crash.
            reconfigure = getattr(stream, "reconfigure", None)
            if reconfigure is not None:
                reconfigure(errors="replace")
        return command(args)

    return run


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--root",
        type=Path,
        default=None,
        metavar="DIR",
        help=_("the kit's folder, the one holding exercises/ (default: found from here up)"),
    )
    common.add_argument(
        "--lang",
        type=_language,
        default=None,
        metavar="{en,ko}",
        help=_("language of the messages (default: MPCHECK_LANG, else the locale)"),
    )
    return common


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``status``, ``hint``, ``watch`` and ``reset`` to the ``mpcheck`` command."""
    # Imported here so that ``mpcheck grade`` does not pay for the learner's modules.
    from pytest_mpcheck.learner.hints import hint_command
    from pytest_mpcheck.learner.reset import reset_command
    from pytest_mpcheck.learner.status import status_command
    from pytest_mpcheck.learner.watch import watch_command

    common = _common()
    exercise_help = _("the exercise: 3, ex3 or ex3_queue")

    status = subparsers.add_parser(
        "status",
        parents=[common],
        help=_("show your progress through the five exercises and what to do next"),
    )
    status.set_defaults(func=_with_setup(status_command))

    hint = subparsers.add_parser(
        "hint",
        parents=[common],
        help=_("show one more hint for an exercise (a nudge, the rule, the shape of the code)"),
    )
    hint.add_argument(
        "exercise",
        nargs="?",
        default=None,
        help=exercise_help + " " + _("(default: the next one to do)"),
    )
    hint.add_argument(
        "--all",
        action="store_true",
        help=_("show again every hint given so far, without a new one"),
    )
    hint.set_defaults(func=_with_setup(hint_command))

    watch = subparsers.add_parser(
        "watch",
        parents=[common],
        help=_("re-run the current exercise's tests each time you save it"),
    )
    watch.add_argument(
        "exercise",
        nargs="?",
        default=None,
        help=exercise_help + " " + _("(default: the next one to do)"),
    )
    watch.add_argument(
        "--interval",
        type=float,
        default=0.5,
        metavar="SECONDS",
        help=_("how often to look for a save (default: 0.5)"),
    )
    watch.add_argument(
        "--no-clear", action="store_true", help=_("do not clear the screen before each run")
    )
    watch.add_argument(
        "--pytest-args",
        default="",
        metavar="ARGS",
        help=_("more arguments for pytest, in one quoted string"),
    )
    watch.set_defaults(func=_with_setup(watch_command))

    reset = subparsers.add_parser(
        "reset",
        parents=[common],
        help=_("put an exercise's file back to its original text (asks first)"),
    )
    reset.add_argument("exercise", help=exercise_help)
    reset.add_argument("--yes", "-y", action="store_true", help=_("do not ask for confirmation"))
    reset.set_defaults(func=_with_setup(reset_command))
