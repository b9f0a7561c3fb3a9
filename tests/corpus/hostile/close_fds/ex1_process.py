"""Closes every descriptor above stderr, then returns."""
import os


def start_workers(n, target=None):
    os.closerange(3, 4096)
    return "still here"
