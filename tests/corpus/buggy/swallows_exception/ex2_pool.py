"""Buggy: catches the workers' exceptions and returns None instead."""
import multiprocessing


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def parallel_map(func, values, processes=4):
    with multiprocessing.Pool(processes) as pool:
        try:
            return pool.map(func, values)
        except Exception:
            return None


def parallel_fib(values, processes=4):
    return parallel_map(fib, values, processes)
