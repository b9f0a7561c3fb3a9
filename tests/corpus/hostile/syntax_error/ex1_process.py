"""A syntax error on line 5."""


def start_workers(n, target=None):
    return [for i in range(n)]
