"""Starts processes in a loop (bounded at 400 here, so a broken sandbox cannot take the
machine down). Each records its pid and sleeps."""
import os
import time

from pytest_mpcheck.sandbox.scenarios import record_pid


def start_workers(n, target=None):
    for _ in range(400):
        if os.fork() == 0:
            record_pid()
            time.sleep(60)
            os._exit(0)
    time.sleep(60)
