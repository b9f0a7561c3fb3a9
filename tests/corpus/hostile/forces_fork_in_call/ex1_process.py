"""Forces the fork start method inside the function."""
import multiprocessing


def start_workers(n, target=None):
    multiprocessing.set_start_method("fork", force=True)
    return []
