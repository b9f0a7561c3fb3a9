"""Buggy: compare reports parallel_s / serial_s as the speedup."""
import multiprocessing
import time
from functools import partial


def heavy(x, n=1_000_000):
    total = 0
    for i in range(n):
        total += i * x
    return total


def run_serial(data, n=1_000_000):
    return [heavy(x, n) for x in data]


def run_parallel(data, processes=2, n=1_000_000):
    with multiprocessing.Pool(processes) as pool:
        return pool.map(partial(heavy, n=n), data)


def compare(data, processes=2, n=1_000_000, repeat=3):
    t = time.perf_counter()
    run_serial(data, n)
    s = time.perf_counter() - t
    t = time.perf_counter()
    run_parallel(data, processes, n)
    p = time.perf_counter() - t
    return {"serial_s": s, "parallel_s": p, "speedup": p / s}
