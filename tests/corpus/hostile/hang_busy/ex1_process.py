"""Hangs: a busy loop that never returns (and never sleeps)."""


def start_workers(n, target=None):
    x = 0
    while True:
        x += 1
