"""Buggy: keeps its pool (and its worker processes) alive after returning."""
import multiprocessing

_pools = []


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def parallel_map(func, values, processes=4):
    pool = multiprocessing.Pool(processes)
    _pools.append(pool)  # never closed, never joined
    return pool.map(func, values)


def parallel_fib(values, processes=4):
    return parallel_map(fib, values, processes)
