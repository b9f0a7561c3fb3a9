"""Reference solution of exercise 2: Pool.map over CPU-bound work."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable
from typing import Any


def fib(n: int) -> int:
    """Return the n-th Fibonacci number, computed recursively."""
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def parallel_map(
    func: Callable[[Any], Any], values: Iterable[Any], processes: int = 4
) -> list[Any]:
    """Apply ``func`` to every value with a Pool of ``processes`` workers, in order."""
    with multiprocessing.Pool(processes) as pool:
        results = pool.map(func, list(values))
        pool.close()
        pool.join()  # every worker has exited before we return
    return results


def parallel_fib(values: Iterable[int], processes: int = 4) -> list[int]:
    """Return ``[fib(v) for v in values]``, computed through :func:`parallel_map`."""
    return parallel_map(fib, values, processes)
