"""Buggy: joins a process that never ends (the worker waits forever)."""
import multiprocessing
import os
import time


def worker(num):
    print(f"process {num} started, PID={os.getpid()}", flush=True)
    while True:
        time.sleep(0.1)


def start_workers(n, target=worker):
    procs = [multiprocessing.Process(target=worker, args=(i,)) for i in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return procs
