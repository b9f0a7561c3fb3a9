"""Correct, written differently: start() and shutdown() by hand."""
import multiprocessing


def worker(d, l, key, value):
    d[key] = value
    l.append(key)


def collect(n):
    manager = multiprocessing.Manager()
    try:
        shared_d = manager.dict()
        shared_l = manager.list()
        jobs = []
        for i in range(n):
            job = multiprocessing.Process(target=worker, args=(shared_d, shared_l, i, i * 10))
            job.start()
            jobs.append(job)
        for job in jobs:
            job.join()
        return shared_d.copy(), list(shared_l)
    finally:
        manager.shutdown()
