"""Buggy: a pool of one worker, whatever `processes` says."""
import multiprocessing


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def parallel_map(func, values, processes=4):
    with multiprocessing.Pool(1) as pool:
        return pool.map(func, values)


def parallel_fib(values, processes=4):
    return parallel_map(fib, values, processes)
