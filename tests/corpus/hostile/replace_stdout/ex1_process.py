"""Replaces sys.stdout and closes the real stdout and stderr descriptors."""
import io
import os
import sys


def start_workers(n, target=None):
    print("before")
    sys.stdout = io.StringIO()
    sys.stderr = None
    os.close(1)
    os.close(2)
    print("swallowed")
    return n
