"""Calls sys.exit(3) in place of returning."""
import sys


def start_workers(n, target=None):
    sys.exit(3)
