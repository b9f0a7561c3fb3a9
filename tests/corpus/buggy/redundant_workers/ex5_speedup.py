"""Buggy: every worker of the pool computes the whole list, so the work is done twice.

Two processes are busy at the same time, so it looks parallel, but it is no faster
than the serial version: each worker redoes all the work and one answer is kept.
"""
import multiprocessing
import time


def heavy(x, n=1_000_000):
    total = 0
    for i in range(n):
        total += i * x
    return total


def run_serial(data, n=1_000_000):
    return [heavy(x, n) for x in data]


def _everything(job):
    data, n = job
    return [heavy(x, n) for x in data]


def run_parallel(data, processes=2, n=1_000_000):
    with multiprocessing.Pool(processes) as pool:
        results = pool.map(_everything, [(list(data), n)] * processes)
    return results[0]


def compare(data, processes=2, n=1_000_000, repeat=3):
    s = min(_timed(run_serial, data, n) for _ in range(repeat))
    p = min(_timed(run_parallel, data, processes, n) for _ in range(repeat))
    return {"serial_s": s, "parallel_s": p, "speedup": s / p}


def _timed(f, *args):
    t = time.perf_counter()
    f(*args)
    return time.perf_counter() - t
