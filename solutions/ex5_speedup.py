"""Reference solution of exercise 5: serial against parallel, measured."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Sequence
from functools import partial


def heavy(x: int, n: int = 1_000_000) -> int:
    """Return ``sum(i * x for i in range(n))``, computed with a Python loop."""
    total = 0
    for i in range(n):
        total += i * x
    return total


def run_serial(data: Sequence[int], n: int = 1_000_000) -> list[int]:
    """Return ``[heavy(x, n) for x in data]``, in this process."""
    return [heavy(x, n) for x in data]


def run_parallel(data: Sequence[int], processes: int = 2, n: int = 1_000_000) -> list[int]:
    """Return the same results as :func:`run_serial`, computed by a Pool."""
    # partial of a top-level function pickles by name, unlike a lambda.
    with multiprocessing.Pool(processes) as pool:
        results = pool.map(partial(heavy, n=n), list(data))
        pool.close()
        pool.join()
    return results


def compare(
    data: Sequence[int], processes: int = 2, n: int = 1_000_000, repeat: int = 3
) -> dict[str, float]:
    """Time both (best of ``repeat``) and return serial_s, parallel_s and speedup."""
    serial_times, parallel_times = [], []
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        run_serial(data, n)
        serial_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        run_parallel(data, processes, n)
        parallel_times.append(time.perf_counter() - start)
    serial_s, parallel_s = min(serial_times), min(parallel_times)
    return {"serial_s": serial_s, "parallel_s": parallel_s, "speedup": serial_s / parallel_s}
