"""Correct, written differently: a Process subclass and an explicit context."""
import multiprocessing
import os

ctx = multiprocessing.get_context()


class Worker(ctx.Process):
    def __init__(self, num, target):
        super().__init__(name=f"worker-{num}")
        self.num = num
        self.func = target

    def run(self):
        self.func(self.num)


def worker(num):
    print("worker", num, "pid", os.getpid(), sep=" ", flush=True)


def start_workers(n, target=worker):
    procs = [Worker(i, target) for i in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    return procs
