"""Returns an object whose unpickling would run a command in the pytest process."""
import os


class Evil:
    def __reduce__(self):
        marker = os.path.join(os.environ["MPCHECK_PROBE_DIR"], "pwned")
        return (os.system, (f"touch {marker}",))


def start_workers(n, target=None):
    return [1, Evil()]
