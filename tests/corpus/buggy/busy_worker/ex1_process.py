"""Buggy: the worker spins in a busy loop and never returns."""
import multiprocessing
import os


def worker(num):
    print(f"process {num} started, PID={os.getpid()}")
    count = 0
    while True:  # the bug: nothing ever ends this loop
        count += 1


def start_workers(n, target=worker):
    procs = [multiprocessing.Process(target=target, args=(i,)) for i in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return procs
