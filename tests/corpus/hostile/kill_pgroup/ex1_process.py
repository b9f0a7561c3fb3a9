"""Kills its whole process group (which, in the sandbox, is its own session)."""
import os
import signal


def start_workers(n, target=None):
    os.killpg(0, signal.SIGKILL)
