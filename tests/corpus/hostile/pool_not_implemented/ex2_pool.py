"""parallel_map is written; fib is still the stub, so it raises in the pool's workers."""
import multiprocessing


def fib(n):
    raise NotImplementedError("fib: the recursive Fibonacci")


def parallel_map(func, values, processes=4):
    with multiprocessing.Pool(processes) as pool:
        return pool.map(func, values)


def parallel_fib(values, processes=4):
    return parallel_map(fib, values, processes)
