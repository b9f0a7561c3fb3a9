"""Starts processes and returns without joining them (one daemon, one not)."""
import multiprocessing
import time

from pytest_mpcheck.sandbox.scenarios import record_pid


def sleeper():
    record_pid()
    time.sleep(60)


def start_workers(n, target=None):
    procs = [multiprocessing.Process(target=sleeper, daemon=(i == 0)) for i in range(2)]
    for p in procs:
        p.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(
        p.pid is not None for p in procs
    ):
        time.sleep(0.01)
    return [p.pid for p in procs]
