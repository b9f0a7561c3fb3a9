"""Buggy: run_pipeline returns the items itself, starting no process at all."""

SENTINEL = None


def producer(q, items, n_sentinels=1):
    for item in items:
        q.put(item)
    for _ in range(n_sentinels):
        q.put(SENTINEL)


def consumer(q, out_q):
    while True:
        item = q.get()
        if item is SENTINEL:
            return
        out_q.put(item)


def run_pipeline(items, n_consumers=1):
    return list(items)
