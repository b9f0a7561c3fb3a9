"""Buggy: ends the whole process with os._exit."""
import os


def worker(num):
    print(f"process {num}, PID={os.getpid()}")


def start_workers(n, target=worker):
    os._exit(7)
