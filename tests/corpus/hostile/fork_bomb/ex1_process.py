"""An exponential fork bomb, bounded at 2**9 processes: every process forks again."""
import os
import time

from pytest_mpcheck.sandbox.scenarios import record_pid


def start_workers(n, target=None):
    for _ in range(9):
        os.fork()
    record_pid()
    time.sleep(60)
