"""Buggy: a plain dict and list: each process changes its own copy."""
import multiprocessing


def worker(d, l, key, value):
    d[key] = value
    l.append(key)


def collect(n):
    d, l = {}, []
    procs = [multiprocessing.Process(target=worker, args=(d, l, i, i * 10)) for i in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return d, l
