"""Daemonizes a grandchild (fork, setsid, fork), then ends its own process at once, so
the grandchild is out of the tree and the session before anyone can look."""
import os
import time

from pytest_mpcheck.sandbox.scenarios import record_pid


def start_workers(n, target=None):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.setsid()
        if os.fork() == 0:
            record_pid()
            os.write(w, b"x")
            time.sleep(60)
        os._exit(0)
    os.waitpid(pid, 0)
    os.read(r, 1)
    os._exit(3)
