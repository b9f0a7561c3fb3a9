"""Prints 10 MB to stdout and 1 MB to stderr, then returns normally."""
import sys


def start_workers(n, target=None):
    line = "x" * 99
    for _ in range(100_000):
        print(line)
    sys.stderr.write("e" * 1_000_000)
    return "done"
