"""Raises an exception that cannot be pickled and whose message cannot be shown."""
import threading


class Weird(Exception):
    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()  # unpicklable

    def __str__(self):
        raise RuntimeError("no message for you")


def start_workers(n, target=None):
    raise Weird()
