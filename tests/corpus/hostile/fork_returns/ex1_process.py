"""Calls os.fork() itself and lets the forked copy return from the function too."""
import os


def start_workers(n, target=None):
    pid = os.fork()
    if pid == 0:
        return "FAKE, from the forked copy"
    os.waitpid(pid, 0)
    return "real"
