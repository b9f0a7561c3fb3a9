"""Buggy: the built-in map runs everything in this one process."""


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def parallel_map(func, values, processes=4):
    return list(map(func, values))


def parallel_fib(values, processes=4):
    return parallel_map(fib, values, processes)
