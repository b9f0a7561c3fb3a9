"""Buggy: sends a lambda to the pool's workers."""
import multiprocessing


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def parallel_map(func, values, processes=4):
    with multiprocessing.Pool(processes) as pool:
        return pool.map(func, values)


def parallel_fib(values, processes=4):
    return parallel_map(lambda v: fib(v), values, processes)
