"""Ships its own pytest_mpcheck package, which would replace the checker's probes."""


def start_workers(n, target=None):
    return []
