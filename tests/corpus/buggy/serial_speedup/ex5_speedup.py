"""Buggy: "parallel" with a pool of one worker: nothing runs at the same time."""
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
    with multiprocessing.Pool(1) as pool:
        return pool.map(partial(heavy, n=n), data)


def compare(data, processes=2, n=1_000_000, repeat=3):
    s = min(_timed(run_serial, data, n) for _ in range(repeat))
    p = min(_timed(run_parallel, data, processes, n) for _ in range(repeat))
    return {"serial_s": s, "parallel_s": p, "speedup": s / p}


def _timed(f, *args):
    t = time.perf_counter()
    f(*args)
    return time.perf_counter() - t
