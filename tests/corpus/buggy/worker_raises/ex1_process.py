"""Buggy: the worker raises, so every process exits with code 1."""
import multiprocessing
import os


def worker(num):
    print(f"process {num} started, PID={os.getpid()}")
    raise ValueError(f"worker {num} cannot count")


def start_workers(n, target=worker):
    procs = [multiprocessing.Process(target=target, args=(i,)) for i in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return procs
