"""Buggy: returns the proxies themselves; they die with the manager."""
import multiprocessing


def worker(d, l, key, value):
    d[key] = value
    l.append(key)


def collect(n):
    with multiprocessing.Manager() as manager:
        d, l = manager.dict(), manager.list()
        procs = [multiprocessing.Process(target=worker, args=(d, l, i, i * 10)) for i in range(n)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
    return d, l
