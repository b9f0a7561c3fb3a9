"""Buggy: joins each process right after starting it (start, join, start, join)."""
import multiprocessing
import os


def worker(num):
    print(f"프로세스 {num} 시작, PID={os.getpid()}")


def start_workers(n, target=worker):
    procs = []
    for i in range(n):
        p = multiprocessing.Process(target=target, args=(i,))
        p.start()
        p.join()  # the bug: waits before starting the next one
        procs.append(p)
    return procs
