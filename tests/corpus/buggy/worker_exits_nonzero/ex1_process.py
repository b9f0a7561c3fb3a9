"""Buggy: the worker ends its process with exit code 3."""
import multiprocessing
import os
import sys


def worker(num):
    print(f"process {num} started, PID={os.getpid()}", flush=True)
    sys.exit(3)


def start_workers(n, target=worker):
    procs = [multiprocessing.Process(target=target, args=(i,)) for i in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return procs
