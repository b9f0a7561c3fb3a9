"""Diagnoses: what went wrong, in the learner's terms, and how to fix it.

Every kit test fails through :func:`fail` with one of these messages (through
``pytest.fail(message, pytrace=False)``, so the report's text is exactly the
diagnosis). The functions here turn a sandbox :class:`CallOutcome` or a piece
of evidence into that text; :mod:`pytest_mpcheck.kit.checks` decides which one
applies.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NoReturn

import pytest

from pytest_mpcheck.i18n import _, ngettext
from pytest_mpcheck.sandbox.outcome import (
    CRASHED,
    IMPORT_ERROR,
    NOT_IMPLEMENTED,
    RAISED,
    TIMEOUT,
    CallOutcome,
)

__all__ = [
    "bootstrapping",
    "fail",
    "from_outcome",
    "is_pickling_problem",
    "leftovers",
    "missing_module",
    "not_implemented",
    "pickling",
    "process_failed",
    "stub",
]

_PICKLING = re.compile(
    r"Can't pickle|cannot pickle|Can't get local object|Can't get attribute|"
    r"attribute lookup .* failed|pickle.*local object",
    re.IGNORECASE,
)
_LOCATION_FUNCTION = re.compile(r"\bin (\w+)\s*$")
_WRITE_FUNCTION = re.compile(r"\bwrite (\w+)")
_TRACEBACK_LIMIT = 3000


def fail(message: str) -> NoReturn:
    """Fail the current test with ``message`` and no Python traceback."""
    pytest.fail(message.rstrip(), pytrace=False)


_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<function>.+)$')
#: Paths of code that is not the learner's: Python's own library, installed packages, the kit.
_NOT_LEARNER = re.compile(
    r"[/\\](?:multiprocessing|concurrent|importlib|threading\.py)|[/\\]lib[/\\]python\d|"
    r"site-packages|dist-packages|pytest_mpcheck|<frozen "
)
_BOOTSTRAP = re.compile(
    r"An attempt has been made to start a new process before\s+the\s+current process has"
    r" finished its bootstrapping phase"
)


def _tail(text: str, limit: int = _TRACEBACK_LIMIT) -> str:
    """A traceback (or any text) cut to about ``limit`` characters, by whole lines.

    Tracebacks keep their learner's frames (any file that is not Python's own or
    an installed package's) and the final exception; the other frames are
    counted, not shown. Never cut in the middle of a line.
    """
    text = text.strip()
    if len(text) <= limit:
        return text
    lines = text.splitlines()
    if any(_FRAME.match(line) for line in lines):
        lines = _trim_frames(lines)
    if sum(len(line) + 1 for line in lines) <= limit:
        return "\n".join(lines)
    # Still too long: keep whole lines from the end (the exception), then the start.
    kept_end: list[str] = []
    size = 0
    for line in reversed(lines):
        if size + len(line) + 1 > limit * 2 // 3:
            break
        kept_end.insert(0, line)
        size += len(line) + 1
    kept_start: list[str] = []
    for line in lines[: len(lines) - len(kept_end)]:
        if size + len(line) + 1 > limit:
            break
        kept_start.append(line)
        size += len(line) + 1
    return "\n".join([*kept_start, "...", *kept_end])


def _trim_frames(lines: list[str]) -> list[str]:
    """Drop the frames of code that is not the learner's, saying how many were dropped."""
    out: list[str] = []
    hidden = 0
    i = 0
    while i < len(lines):
        match = _FRAME.match(lines[i])
        if not match:
            if hidden:
                out.append(_("  ... ({count} frame(s) of Python's own code)").format(count=hidden))
                hidden = 0
            out.append(lines[i])
            i += 1
            continue
        # A frame is its "File ..." line and the indented lines under it (code, ^^^).
        j = i + 1
        while j < len(lines) and lines[j].startswith("    ") and not _FRAME.match(lines[j]):
            j += 1
        last_frame = not any(_FRAME.match(line) for line in lines[j:])
        if _NOT_LEARNER.search(match.group("file")) and not last_frame:
            hidden += 1
        else:
            if hidden:
                out.append(_("  ... ({count} frame(s) of Python's own code)").format(count=hidden))
                hidden = 0
            out.extend(lines[i:j])
        i = j
    return out


def bootstrapping(text: str) -> str | None:
    """The kit's explanation of multiprocessing's bootstrapping-phase RuntimeError, if ``text``
    holds it: the learner's module starts processes at import time, and under spawn (or
    forkserver) each new process imports it again."""
    if not _BOOTSTRAP.search(text):
        return None
    where = ""
    for match in (_FRAME.match(line) for line in text.splitlines()):
        if (
            match
            and match.group("function") == "<module>"
            and not _NOT_LEARNER.search(match.group("file"))
        ):
            where = _(" (at {file}, line {line})").format(
                file=match.group("file").replace("\\", "/").rsplit("/", 1)[-1],
                line=match.group("line"),
            )
    return _(
        "your module starts processes when it is imported{where}; under spawn every worker"
        " imports it again: move that code under if __name__ == '__main__':"
        " (multiprocessing said: RuntimeError: An attempt has been made to start a new process"
        " before the current process has finished its bootstrapping phase.)"
    ).format(where=where)


def missing_module(impl_dir: str, module: str) -> str:
    """The file of an exercise is not in the implementation folder."""
    return _(
        "{module}.py is missing from {folder}: put your {module}.py there (a copy of the"
        " stub in exercises/ to start from) so that this exercise can be checked."
    ).format(module=module, folder=impl_dir)


def stub(module: str, function: str) -> str:
    """The function a test needs is still the untouched stub."""
    return _(
        "{function} in {module}.py is not written yet (it raises NotImplementedError):"
        " write {function} first. The docstring at the top of {module}.py explains the"
        " pattern."
    ).format(function=function, module=module)


def not_implemented(module: str, outcome: CallOutcome, default: str) -> str:
    """An untouched stub: say which function to write first."""
    name = default
    found = _LOCATION_FUNCTION.search(outcome.location or "")
    if found:
        name = found.group(1)
    else:
        found = _WRITE_FUNCTION.search(outcome.exc_message or "")
        if found:
            name = found.group(1)
    return stub(module, name)


def is_pickling_problem(exc_type: str | None, message: str | None) -> bool:
    """Whether an exception says that something could not be pickled by name."""
    text = f"{exc_type or ''}: {message or ''}"
    return bool(_PICKLING.search(text)) and (
        "Pickl" in text or "AttributeError" in text or "TypeError" in text or "pickle" in text
    )


def pickling(function: str, start_method: str, detail: str) -> str:
    """A lambda or a nested function was sent to a worker process."""
    return _(
        "{function} sent a lambda or a function defined inside another function to a worker"
        " process, and it could not be pickled ({detail}). Under the {method} start method"
        " (and always with a Pool) the worker finds the function by its name, so it must be"
        " defined at the top level of your module: replace the lambda or nested function"
        " with a top-level def (functools.partial of a top-level function also works)."
    ).format(function=function, method=start_method, detail=detail.strip().splitlines()[0][:300])


def from_outcome(
    outcome: CallOutcome, *, module: str, function: str, start_method: str, timeout: float
) -> str:
    """The diagnosis of a sandboxed call that did not return normally."""
    if outcome.status == NOT_IMPLEMENTED:
        return not_implemented(module, outcome, function)
    if outcome.status == IMPORT_ERROR:
        where = outcome.location or ""
        line = re.search(r"line (\d+)", f"{where} {outcome.exc_message or ''}")
        return _(
            "{module}.py could not be imported: {error}{where}. Fix this first: none of"
            " this exercise's tests can run until the file imports."
        ).format(
            module=module,
            error=f"{outcome.exc_type}: {outcome.exc_message}",
            where=_(" ({module}.py, line {line})").format(module=module, line=line.group(1))
            if line and f"line {line.group(1)}" not in (outcome.exc_message or "")
            else "",
        )
    for text in (outcome.exc_message or "", outcome.traceback or "", outcome.stderr or ""):
        explained = bootstrapping(text)
        if explained and outcome.status in (RAISED, IMPORT_ERROR, CRASHED):
            return explained
    if outcome.status == RAISED:
        if is_pickling_problem(outcome.exc_type, outcome.exc_message):
            return pickling(function, start_method, f"{outcome.exc_type}: {outcome.exc_message}")
        return _("{function} raised {error} under the {method} start method:\n{traceback}").format(
            function=function,
            error=f"{outcome.exc_type}: {outcome.exc_message}",
            method=start_method,
            traceback=_tail(outcome.traceback or ""),
        )
    if outcome.status == TIMEOUT:
        stacks = outcome.stacks.strip()
        # The stacks' own wording for a process that is running, not waiting.
        busy_marker = _("running (busy, not waiting for anything)")
        if stacks and (busy_marker in stacks or "running (busy" in stacks):
            cause = _(
                "A busy loop is the cause here: a process was running, not waiting, at its"
                " last look (a while loop whose condition never becomes false, a loop that"
                " polls instead of blocking in get() or join())."
            )
        else:
            cause = _(
                "A process waiting forever is the usual cause (a join() that never returns,"
                " a get() with nothing left to get)."
            )
        if not stacks:
            stacks = _("(no stack could be read)")
        elif not stacks.startswith(_("Where each process still alive is stuck")):
            # The stacks' report has its own heading; add one only when it has none.
            stacks = _("Where each process was stuck:") + "\n" + stacks
        return _(
            "{function} took too long: it had not finished after {timeout:.0f} s under the"
            " {method} start method, so it was stopped. {cause}\n{stacks}"
        ).format(
            function=function,
            timeout=timeout,
            method=start_method,
            cause=cause,
            stacks=stacks,
        )
    if outcome.status == CRASHED:
        why = outcome.reason or (
            _("exit code {code}").format(code=outcome.exitcode)
            if outcome.exitcode is not None
            else _("signal {signal}").format(signal=outcome.signal_name)
        )
        return _(
            "{function} ended the process running it before returning, under the {method}"
            " start method: {reason}{stderr}"
        ).format(
            function=function,
            reason=why,
            method=start_method,
            stderr=("\n" + _tail(outcome.stderr, 1500)) if outcome.stderr.strip() else "",
        )
    return _("{function} failed: {summary}").format(function=function, summary=outcome.summary())


def process_failed(what: str, exitcode: int | None, stderr: str, name: str = "") -> str:
    """A worker process raised (exit code 1) or exited with another non-zero code.

    ``name`` is the process's ``Process.name``: multiprocessing heads each failed
    process's traceback with it, so the traceback shown is this process's own even
    when several processes failed at once.
    """
    explained = bootstrapping(stderr)
    if explained:
        return explained
    own = _own_traceback(stderr, name) if name else ""
    traceback = own or _worker_traceback(stderr)
    if exitcode is not None and exitcode < 0:
        head = _("{what} was killed by signal {signal}").format(what=what, signal=-exitcode)
    else:
        head = _("{what} exited with code {code} instead of 0").format(what=what, code=exitcode)
    if own:
        return _("{head}: it raised an exception. Its traceback:\n{traceback}").format(
            head=head, traceback=own
        )
    if traceback:
        # Processes that fail at once write to stderr at once: their lines can mix,
        # so the last whole traceback may be another process's.
        return _(
            "{head}: it raised an exception. The last traceback the processes printed:\n{traceback}"
        ).format(head=head, traceback=traceback)
    return _(
        "{head}. A process exits with 0 when its target function returns normally; fix what"
        " makes it fail."
    ).format(head=head)


#: The line multiprocessing writes before the traceback of a process that raised.
_PROCESS_HEADER = re.compile(r"^Process (?P<name>[^\n]*):\n(?=Traceback)", re.MULTILINE)
#: Any process's header, where the block of the one before it ends.
_ANY_PROCESS_HEADER = re.compile(r"^Process [^\n]*:$", re.MULTILINE)


def _own_traceback(stderr: str, name: str) -> str:
    """The whole traceback under process ``name``'s header, or "" when lines mixed."""
    for match in _PROCESS_HEADER.finditer(stderr):
        if match.group("name") != name:
            continue
        following = _ANY_PROCESS_HEADER.search(stderr, match.end())
        block = stderr[match.end() : following.start() if following else len(stderr)]
        lines = block.rstrip("\n").splitlines()
        # Whole: the header line, then frames, then the exception line last.
        if len(lines) >= 2 and lines[-1] and not lines[-1].startswith((" ", "Traceback")):
            return _tail("\n".join(lines), 2000)
    return ""


def _worker_traceback(stderr: str) -> str:
    """The last traceback a child process printed on stderr, if any."""
    start = stderr.rfind("Traceback (most recent call last)")
    if start < 0:
        start = stderr.find("Process ")
    return _tail(stderr[start:], 2000) if start >= 0 else ""


def leftovers(function: str, procs: Iterable[Mapping[str, Any]], extra: Sequence[Any] = ()) -> str:
    """Processes (a pool's workers, a manager, the learner's own) were still running."""
    described = [f"{p.get('role', 'process')} (pid {p.get('pid')})" for p in procs]
    described += [str(info) for info in extra if str(info) not in described]
    count = len(described)
    return ngettext(
        "{count} process was still running after {function} returned: {which}. Join every"
        " process you start, and close and join a pool (or use it in a with block) before"
        " returning.",
        "{count} processes were still running after {function} returned: {which}. Join every"
        " process you start, and close and join a pool (or use it in a with block) before"
        " returning.",
        count,
    ).format(count=count, function=function, which=", ".join(described[:6]))
