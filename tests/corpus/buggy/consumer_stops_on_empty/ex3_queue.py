"""Buggy: the consumer stops as soon as the queue looks empty (not on its sentinel).

It usually finds the queue empty at once (the producer has not put anything yet)
and exits; the parent takes results off out_q (it drains, it does not join first)
and waits there forever, for items stuck in q.
"""
import multiprocessing

SENTINEL = None


def producer(q, items, n_sentinels=1):
    for item in items:
        q.put(item)
    for _ in range(n_sentinels):
        q.put(SENTINEL)


def consumer(q, out_q):
    while not q.empty():  # the bug: an empty queue is not the end of the stream
        item = q.get()
        if item is SENTINEL:
            return
        out_q.put(item)


def run_pipeline(items, n_consumers=1):
    q = multiprocessing.Queue()
    out_q = multiprocessing.Queue()
    cons = [multiprocessing.Process(target=consumer, args=(q, out_q)) for _ in range(n_consumers)]
    for c in cons:
        c.start()
    for c in cons:
        c.join()
    prod = multiprocessing.Process(target=producer, args=(q, items, n_consumers))
    prod.start()
    results = [out_q.get() for _ in range(len(items))]
    prod.join()
    return results
