"""Correct, written differently: ProcessPoolExecutor and timeit-style timing."""
import functools
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor


def heavy(x, n=1_000_000):
    total = 0
    i = 0
    while i < n:
        total += i * x
        i += 1
    return total


def run_serial(data, n=1_000_000):
    return list(map(functools.partial(heavy, n=n), data))


def run_parallel(data, processes=2, n=1_000_000):
    ctx = multiprocessing.get_context()
    with ProcessPoolExecutor(processes, mp_context=ctx) as pool:
        return list(pool.map(functools.partial(heavy, n=n), data))


def compare(data, processes=2, n=1_000_000, repeat=3):
    times = {"serial_s": [], "parallel_s": []}
    for _ in range(repeat):
        for key, fn in (("serial_s", lambda: run_serial(data, n)),
                        ("parallel_s", lambda: run_parallel(data, processes, n))):
            t0 = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - t0)
    s, p = min(times["serial_s"]), min(times["parallel_s"])
    return {"serial_s": s, "parallel_s": p, "speedup": s / p}
