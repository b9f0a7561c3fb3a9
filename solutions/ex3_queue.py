"""Reference solution of exercise 3: producer, consumers, one sentinel per consumer."""

from __future__ import annotations

import multiprocessing
from typing import Any

SENTINEL = None
JOIN_TIMEOUT = 60.0


def producer(q: Any, items: list[Any], n_sentinels: int = 1) -> None:
    """Put every item on ``q`` in order, then ``n_sentinels`` sentinels."""
    for item in items:
        q.put(item)
    for _ in range(n_sentinels):
        q.put(SENTINEL)


def consumer(q: Any, out_q: Any) -> None:
    """Forward items from ``q`` to ``out_q`` until a sentinel; then return."""
    while True:
        item = q.get()
        if item is SENTINEL:
            return
        out_q.put(item)


def run_pipeline(items: list[Any], n_consumers: int = 1) -> list[Any]:
    """Run one producer and ``n_consumers`` consumers; return every item consumed."""
    items = list(items)
    q: Any = multiprocessing.Queue()
    out_q: Any = multiprocessing.Queue()
    prod = multiprocessing.Process(target=producer, args=(q, items, n_consumers))
    consumers = [
        multiprocessing.Process(target=consumer, args=(q, out_q)) for _ in range(n_consumers)
    ]
    prod.start()
    for proc in consumers:
        proc.start()
    # Drain the output before joining: a consumer cannot exit while items it put
    # are still in the queue's pipe, so joining first would deadlock.
    results = [out_q.get(timeout=JOIN_TIMEOUT) for _ in range(len(items))]
    prod.join(JOIN_TIMEOUT)
    for proc in consumers:
        proc.join(JOIN_TIMEOUT)
    return results
