"""The ``mpcheck`` command: one entry point, a subcommand per module.

Each subcommand module exposes ``register(subparsers)``, which adds its parser and
sets ``func`` on it; ``func(args)`` returns the exit code.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

SUBCOMMAND_MODULES = (
    "pytest_mpcheck.grading.cli",
    "pytest_mpcheck.learner.cli",
)


def build_parser() -> argparse.ArgumentParser:
    """Return the ``mpcheck`` argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="mpcheck",
        description="Learn, check and grade Python multiprocessing (pytest-mpcheck).",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``mpcheck`` with ``argv`` and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        code: int = args.func(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # `mpcheck status | head` closed our stdout early: not an error of ours.
        # Point stdout at devnull so the interpreter's final flush stays quiet.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    return code


if __name__ == "__main__":
    raise SystemExit(main())
