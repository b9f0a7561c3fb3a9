"""Waits for input on stdin (there is none in the sandbox)."""


def start_workers(n, target=None):
    return input("how many? ")
