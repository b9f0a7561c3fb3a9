"""Correct, written differently: starmap over (x, n) pairs."""
import multiprocessing
import time


def heavy(x, n=1_000_000):
    return sum(i * x for i in range(n))


def run_serial(data, n=1_000_000):
    return [heavy(x, n) for x in data]


def run_parallel(data, processes=2, n=1_000_000):
    with multiprocessing.Pool(processes=processes) as pool:
        return pool.starmap(heavy, [(x, n) for x in data])


def _best(func, *args, repeat):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        func(*args)
        best = min(best, time.perf_counter() - start)
    return best


def compare(data, processes=2, n=1_000_000, repeat=3):
    serial_s = _best(run_serial, data, n, repeat=repeat)
    parallel_s = _best(run_parallel, data, processes, n, repeat=repeat)
    return {"serial_s": serial_s, "parallel_s": parallel_s, "speedup": serial_s / parallel_s}
