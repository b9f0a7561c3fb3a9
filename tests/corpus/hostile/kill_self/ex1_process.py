"""Kills its own process with SIGKILL."""
import os
import signal


def start_workers(n, target=None):
    os.kill(os.getpid(), signal.SIGKILL)
