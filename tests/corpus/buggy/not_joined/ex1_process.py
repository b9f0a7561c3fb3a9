"""Buggy: starts the processes but never joins them."""
import multiprocessing
import os
import time


def worker(num):
    time.sleep(1.5)
    print(f"process {num} started, PID={os.getpid()}")


def start_workers(n, target=worker):
    procs = [multiprocessing.Process(target=target, args=(i,)) for i in range(n)]
    for p in procs:
        p.start()
    return procs
