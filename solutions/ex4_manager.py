"""Reference solution of exercise 4: shared dict and list through a Manager."""

from __future__ import annotations

import multiprocessing
from typing import Any

JOIN_TIMEOUT = 60.0


def worker(d: Any, l: Any, key: Any, value: Any) -> None:  # noqa: E741
    """Set ``d[key] = value``, then append ``key`` to ``l``."""
    d[key] = value
    l.append(key)


def collect(n: int) -> tuple[dict[Any, Any], list[Any]]:
    """Run ``n`` workers on a Manager's dict and list; return plain copies."""
    with multiprocessing.Manager() as manager:
        d = manager.dict()
        l = manager.list()  # noqa: E741
        procs = [
            multiprocessing.Process(target=worker, args=(d, l, i, i * 10)) for i in range(n)
        ]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(JOIN_TIMEOUT)
        # Copy out while the manager still runs: the proxies die with it.
        return dict(d), list(l)
