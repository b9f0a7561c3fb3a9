"""Buggy: wraps the target in a lambda, which cannot be pickled under spawn."""
import multiprocessing
import os


def worker(num):
    print(f"process {num} started, PID={os.getpid()}")


def start_workers(n, target=worker):
    procs = [multiprocessing.Process(target=lambda i=i: target(i)) for i in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return procs
