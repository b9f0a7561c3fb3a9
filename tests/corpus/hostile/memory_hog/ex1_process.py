"""Allocates far more memory than a call may use."""


def start_workers(n, target=None):
    return len(bytearray(8 * 1024**3))
