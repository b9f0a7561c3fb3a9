"""Correct, written differently: concurrent.futures with a multiprocessing context."""
import multiprocessing
from concurrent.futures import ProcessPoolExecutor


def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


def parallel_map(func, values, processes=4):
    values = list(values)
    with ProcessPoolExecutor(max_workers=processes, mp_context=multiprocessing.get_context()) as ex:
        return list(ex.map(func, values))


def parallel_fib(values, processes=4):
    return parallel_map(fib, values, processes=processes)
