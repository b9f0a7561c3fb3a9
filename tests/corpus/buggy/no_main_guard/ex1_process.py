"""Buggy: tries its function out at the top level, without if __name__ == "__main__":."""
import multiprocessing
import os


def worker(num):
    print(f"process {num} started, PID={os.getpid()}")


def start_workers(n, target=worker):
    procs = [multiprocessing.Process(target=target, args=(i,)) for i in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return procs


start_workers(2)  # the bug: runs again in every process that imports this module
