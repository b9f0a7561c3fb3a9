"""Correct, written differently: imap with a chunk size, explicit close and join."""
from multiprocessing import Pool


def fib(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def parallel_map(func, values, processes=4):
    pool = Pool(processes)
    try:
        results = list(pool.imap(func, values, chunksize=1))
    except BaseException:
        pool.terminate()
        pool.join()
        raise
    pool.close()
    pool.join()
    return results


def parallel_fib(values, processes=4):
    return parallel_map(fib, values, processes)
