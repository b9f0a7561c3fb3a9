"""What the shutdown checks run in their child processes (kept import-light on purpose).

Under spawn and forkserver each child unpickles its target by reference and so
imports this module; :mod:`pytest_mpcheck.sentinel` would pull in pytest (over a
second per child on a loaded machine). Standard library only, plus psutil.
"""

from __future__ import annotations

import contextlib
import os
import queue as queue_module
import sys
import traceback
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from multiprocessing.reduction import ForkingPickler
from typing import Any

__all__ = ["OutQueue", "RecordingQueue"]


# Events are sent to the harness in batches: one pickled message per event made a
# check of 20,000 items spend most of its time in the harness's get(). A batch is
# sent before any blocking wait and after a sentinel, so that what the harness sees
# is never behind where a waiting process is.
_BATCH = 256
_buffer: list[tuple[str, str, Any]] = []


def _record(log: Any, role: str, kind: str, value: Any, *, flush: bool = False) -> None:
    _buffer.append((role, kind, value))
    if flush or len(_buffer) >= _BATCH:
        _flush(log)


def _flush(log: Any) -> None:
    if _buffer:
        batch = list(_buffer)
        _buffer.clear()
        log.put(batch)


def _is_sentinel(value: Any, sentinel: Any) -> bool:
    if value is sentinel:
        return True
    try:
        return type(value) is type(sentinel) and bool(value == sentinel)
    except Exception:
        return False


class RecordingQueue:
    """A queue handed to the code under test: each call is logged, then passed on.

    Picklable and top-level, so it reaches the child under every start method
    (the wrapped queue travels as a ``Process`` argument, as queues must).
    """

    def __init__(self, inner: Any, log: Any, role: str, sentinel: Any = None) -> None:
        self._inner = inner
        self._log = log
        self._role = role
        self._sentinel = sentinel

    def get(self, *args: Any, **kwargs: Any) -> Any:
        """Take an item, recording the call and what it returned."""
        log, role = self._log, self._role
        if not hasattr(self._inner, "get_nowait"):
            # A SimpleQueue: its get() takes no arguments (passing some fails just as
            # it would on the real queue) and cannot time out.
            _record(log, role, "get", None, flush=True)
            item = self._inner.get(*args, **kwargs)
            _record(log, role, "got", item, flush=_is_sentinel(item, self._sentinel))
            return item
        return self._get(*args, **kwargs)

    def _get(self, block: bool = True, timeout: float | None = None) -> Any:
        log, role = self._log, self._role
        try:
            # First without waiting: most calls find an item, and then the events
            # can wait in the batch.
            item = self._inner.get(False)
        except queue_module.Empty:
            _record(log, role, "get", None, flush=True)
            if not block:
                _record(log, role, "empty", None, flush=True)
                raise
            try:
                item = self._inner.get(True, timeout)
            except queue_module.Empty:
                _record(log, role, "empty", None, flush=True)
                raise
        else:
            _record(log, role, "get", None)
        _record(log, role, "got", item, flush=_is_sentinel(item, self._sentinel))
        return item

    def get_nowait(self) -> Any:
        """``get(False)``."""
        return self.get(False)

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        """Put an item, recording it."""
        if block and timeout is None:
            self._inner.put(item)  # also a SimpleQueue's put(), which takes no options
        else:
            self._inner.put(item, block, timeout)
        _record(self._log, self._role, "put", item)

    def put_nowait(self, item: Any) -> None:
        """``put(item, False)``."""
        self.put(item, False)

    def task_done(self) -> None:
        """Mark a task done (JoinableQueue), recording it."""
        self._inner.task_done()
        _record(self._log, self._role, "task_done", None)

    def join(self) -> None:
        """``JoinableQueue.join()``: a blocking wait, so the harness hears first."""
        _flush(self._log)
        self._inner.join()

    def __getattr__(self, name: str) -> Any:
        # empty(), qsize(), close(), ... go to the real queue. Private names are
        # refused so that unpickling (before _inner exists) cannot recurse.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._inner, name)


class OutQueue:
    """The ``out_q`` a consumer forwards items to: every put is recorded (and kept)."""

    def __init__(self, log: Any, role: str) -> None:
        self._log = log
        self._role = role

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        """Forward an item."""
        _record(self._log, self._role, "out", item)

    def put_nowait(self, item: Any) -> None:
        """Forward an item."""
        self.put(item)

    def close(self) -> None:
        """Nothing to close."""

    def join_thread(self) -> None:
        """Nothing to join."""

    def cancel_join_thread(self) -> None:
        """Nothing to cancel."""


def _learner_traceback() -> str:
    """The current exception's traceback without this module's own frames."""
    etype, exc, tb = sys.exc_info()
    frames = [f for f in traceback.extract_tb(tb) if f.filename != __file__]
    lines = ["Traceback (most recent call last):\n"]
    lines += traceback.format_list(frames)
    lines += traceback.format_exception_only(etype, exc)
    return "".join(lines)


def _own_group() -> None:
    """Lead a process group, so that whatever the code under test starts can be found."""
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)


def _producer_main(
    producer: Callable[..., Any], q: Any, items: list[Any], n: int, log: Any
) -> None:
    _own_group()
    _record(log, "producer", "start", os.getpid(), flush=True)
    try:
        producer(q, items, n)
    except BaseException:
        _record(log, "producer", "raised", _learner_traceback(), flush=True)
        sys.exit(1)
    _record(log, "producer", "returned", None, flush=True)


def _consumer_main(consumer: Callable[..., Any], q: Any, out_q: Any, log: Any, role: str) -> None:
    _own_group()
    _record(log, role, "start", os.getpid(), flush=True)
    try:
        consumer(q, out_q)
    except BaseException:
        _record(log, role, "raised", _learner_traceback(), flush=True)
        sys.exit(1)
    _record(log, role, "returned", None, flush=True)


def _pipeline_main(
    run_pipeline: Callable[..., Any], items: list[Any], n_consumers: int, result_q: Any
) -> None:
    _own_group()
    started: list[BaseProcess] = []
    original_start = BaseProcess.start

    def recording_start(self: BaseProcess) -> None:
        original_start(self)
        started.append(self)

    # Only in this process (ours): record every process the pipeline starts.
    BaseProcess.start = recording_start  # type: ignore[method-assign]
    try:
        result = run_pipeline(items, n_consumers)
    except BaseException:
        result_q.put(("raised", _learner_traceback(), []))
        result_q.close()
        result_q.join_thread()
        os._exit(1)
    finally:
        BaseProcess.start = original_start  # type: ignore[method-assign]
    processes: list[tuple[str, int | None, bool]] = []
    for proc in started:
        if "PoolWorker" in proc.name or "Manager" in proc.name:
            continue
        alive = proc.is_alive()
        processes.append((proc.name, None if alive else proc.exitcode, alive))
    try:
        # Queue.put pickles in a background thread, where an error would be lost.
        ForkingPickler.dumps(result)
    except Exception:
        result_q.put(("unpicklable", type(result).__name__, processes))
    else:
        result_q.put(("ok", result, processes))
    result_q.close()
    result_q.join_thread()
    # What the pipeline left running is reported; end it so that this process exits.
    from pytest_mpcheck import proctree

    proctree.kill_tree([os.getpid()], include_roots=False, timeout=5.0)
    os._exit(0)
