"""Reference solution of exercise 1: start every process, then join them all."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable

JOIN_TIMEOUT = 60.0  # every join is bounded: a stuck child cannot hang the caller forever


def worker(num: int) -> None:
    """Print one line holding ``num`` and this process's PID."""
    print(f"프로세스 {num} 시작, PID={os.getpid()}", flush=True)


def start_workers(
    n: int, target: Callable[[int], None] = worker
) -> list[multiprocessing.process.BaseProcess]:
    """Start ``n`` processes calling ``target(i)``, then join them all; return them in order."""
    processes = [multiprocessing.Process(target=target, args=(i,)) for i in range(n)]
    for proc in processes:  # first start every process ...
        proc.start()
    for proc in processes:  # ... and only then wait for them
        proc.join(JOIN_TIMEOUT)
    return list(processes)
