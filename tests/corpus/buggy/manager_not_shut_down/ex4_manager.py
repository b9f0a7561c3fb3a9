"""Buggy: starts a manager and keeps it running after returning."""
import multiprocessing

_managers = []


def worker(d, l, key, value):
    d[key] = value
    l.append(key)


def collect(n):
    manager = multiprocessing.Manager()
    _managers.append(manager)  # never shut down
    d, l = manager.dict(), manager.list()
    procs = [multiprocessing.Process(target=worker, args=(d, l, i, i * 10)) for i in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return dict(d), list(l)
