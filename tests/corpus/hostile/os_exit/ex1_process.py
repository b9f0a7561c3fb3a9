"""Ends the process with os._exit(0) in place of returning."""
import os


def start_workers(n, target=None):
    print("about to leave")
    os._exit(0)
