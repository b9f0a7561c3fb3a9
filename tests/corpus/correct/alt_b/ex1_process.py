"""Correct, written differently: the spawn context always, enumerate, English line."""
import multiprocessing as mp
import os


def worker(num):
    print(f"worker #{num} running in process {os.getpid()}")


def start_workers(n, target=worker):
    ctx = mp.get_context("spawn")
    started = []
    for i in range(n):
        proc = ctx.Process(target=target, args=(i,), daemon=False)
        proc.start()
        started.append(proc)
    for proc in started:
        proc.join()
    return started
