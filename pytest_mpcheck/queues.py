"""TimeoutQueue: a ``multiprocessing`` queue whose blocking calls carry a deadline.

A plain ``Queue.get()`` waits forever for an item that never comes, and the whole
run hangs. A :class:`TimeoutQueue` gives each blocking ``get``/``put``/``join`` that
was called without a timeout a default deadline; when it expires it raises
:class:`QueueTimeoutError` naming the queue and what it waited for (in the process
that made the queue, with a report of where the test's processes are stuck).
A call with an explicit ``timeout`` or ``block=False`` behaves exactly as usual.

The queue can be passed to child processes like the queue it wraps; the deadline
travels with it.
"""

from __future__ import annotations

import contextlib
import os
import queue as queue_module
import time
from collections.abc import Callable
from multiprocessing.context import BaseContext
from typing import Any

from pytest_mpcheck.exceptions import MpcheckError
from pytest_mpcheck.i18n import _

__all__ = ["QueueTimeoutError", "TimeoutQueue"]


class QueueTimeoutError(MpcheckError, TimeoutError):
    """A :class:`TimeoutQueue`'s blocking call waited past its deadline."""


class TimeoutQueue:
    """A queue of ``context`` (joinable if asked) whose blocking calls time out.

    ``timeout`` is the default deadline in seconds for a blocking call made without
    one. ``hang_report`` (optional, not sent to children) returns text appended to
    the error raised in the process that made the queue.
    """

    def __init__(
        self,
        context: BaseContext,
        maxsize: int = 0,
        *,
        name: str = "timeout_queue",
        timeout: float = 10.0,
        joinable: bool = False,
        hang_report: Callable[[], str] | None = None,
    ) -> None:
        self.name = name
        self.timeout = timeout
        self.maxsize = maxsize
        self.joinable = joinable
        self._queue: Any = context.JoinableQueue(maxsize) if joinable else context.Queue(maxsize)
        self._owner = os.getpid()
        self._hang_report = hang_report

    # The wrapped queue pickles only while a process is being spawned, as usual.
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_hang_report"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __repr__(self) -> str:
        return f"<TimeoutQueue {self.name!r} timeout={self.timeout:g}s>"

    @property
    def queue(self) -> Any:
        """The wrapped ``multiprocessing`` queue."""
        return self._queue

    def _expired(self, message: str) -> QueueTimeoutError:
        if os.getpid() == self._owner and self._hang_report is not None:
            with contextlib.suppress(Exception):
                report = self._hang_report()
                if report:
                    message = f"{message}\n{report}"
        return QueueTimeoutError(message)

    # ------------------------------------------------------------------ get/put
    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        """Remove and return an item; without a timeout, wait at most the default deadline."""
        __tracebackhide__ = True  # the error is about the caller's wait, not this wrapper
        if not block or timeout is not None:
            return self._queue.get(block, timeout)
        try:
            return self._queue.get(True, self.timeout)
        except queue_module.Empty:
            raise self._expired(
                _(
                    "timeout_queue {name!r}: get() waited {seconds:g} s for an item, but none "
                    "came (the queue stayed empty). Is a producer still running, and did it "
                    "put every item (and one sentinel per consumer)?"
                ).format(name=self.name, seconds=self.timeout)
            ) from None

    def put(self, obj: Any, block: bool = True, timeout: float | None = None) -> None:
        """Put an item; without a timeout, wait at most the default deadline for room."""
        __tracebackhide__ = True  # the error is about the caller's wait, not this wrapper
        if not block or timeout is not None:
            self._queue.put(obj, block, timeout)
            return
        try:
            self._queue.put(obj, True, self.timeout)
        except queue_module.Full:
            raise self._expired(
                _(
                    "timeout_queue {name!r}: put() waited {seconds:g} s for room, but the "
                    "queue stayed full (maxsize={maxsize}). Is a consumer still taking items?"
                ).format(name=self.name, seconds=self.timeout, maxsize=self.maxsize)
            ) from None

    def get_nowait(self) -> Any:
        """Remove and return an item if one is there at once (``queue.Empty`` if not)."""
        return self._queue.get_nowait()

    def put_nowait(self, obj: Any) -> None:
        """Put an item if there is room at once (``queue.Full`` if not)."""
        self._queue.put_nowait(obj)

    # ------------------------------------------------------------------ joinable
    def task_done(self) -> None:
        """Mark one item taken with :meth:`get` as processed (joinable queues only)."""
        self._queue.task_done()

    def join(self, timeout: float | None = None) -> None:
        """Wait until every item put has been marked done, at most the deadline.

        Unlike ``JoinableQueue.join`` this takes a ``timeout``; without one the
        default deadline applies. Either way an expiry raises :class:`QueueTimeoutError`.
        """
        __tracebackhide__ = True  # the error is about the caller's wait, not this wrapper
        if not self.joinable:
            raise MpcheckError(
                _("timeout_queue {name!r} is not joinable: make it with joinable=True").format(
                    name=self.name
                )
            )
        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        inner = self._queue
        # JoinableQueue.join() has no timeout; this is its loop with one.
        with inner._cond:
            while not inner._unfinished_tasks._semlock._is_zero():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                inner._cond.wait(remaining)
            else:
                return
        raise self._expired(
            _(
                "timeout_queue {name!r}: join() waited {seconds:g} s for every item to be "
                "marked done, but {count} item(s) are still unfinished. Does each consumer "
                "call task_done() once for every get()?"
            ).format(name=self.name, seconds=wait, count=self._unfinished())
        )

    def _unfinished(self) -> str:
        try:
            return str(self._queue._unfinished_tasks.get_value())
        except (NotImplementedError, AttributeError):  # macOS has no sem_getvalue
            return "some"

    # ------------------------------------------------------------------ the rest
    def qsize(self) -> int:
        """Approximate number of items (``NotImplementedError`` on macOS)."""
        return int(self._queue.qsize())

    def empty(self) -> bool:
        """Whether the queue is empty (approximately, as for any queue)."""
        return bool(self._queue.empty())

    def full(self) -> bool:
        """Whether the queue is full (approximately, as for any queue)."""
        return bool(self._queue.full())

    def close(self) -> None:
        """No more puts from this process; the feeder thread flushes and ends."""
        self._queue.close()

    def join_thread(self) -> None:
        """Wait for the feeder thread after :meth:`close` (blocks while the pipe is full)."""
        self._queue.join_thread()

    def cancel_join_thread(self) -> None:
        """Do not wait for the feeder thread at exit (unflushed items may be lost)."""
        self._queue.cancel_join_thread()

    def dispose(self) -> None:
        """Close the queue without ever blocking (what the fixture does at teardown)."""
        with contextlib.suppress(Exception):
            self._queue.cancel_join_thread()
        with contextlib.suppress(Exception):
            self._queue.close()
