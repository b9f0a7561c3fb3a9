"""Buggy: does not even parse."""
import multiprocessing


def worker(num)
    print(num)


def start_workers(n, target=worker):
    return []
