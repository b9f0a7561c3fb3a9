"""Daemonizes: fork, setsid, fork again, so the grandchild leaves the tree and the session."""
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
    os.read(r, 1)  # the escaped grandchild is running
    return "escaped"
