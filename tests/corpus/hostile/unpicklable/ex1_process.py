"""Returns values that cannot be pickled."""
import threading


def start_workers(n, target=None):
    return [lambda: n, threading.Lock()]
