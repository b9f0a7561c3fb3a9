"""Correct, written differently: a Manager's queues and a result count per consumer."""
import multiprocessing
from multiprocessing import Process

SENTINEL = None


def producer(q, items, n_sentinels=1):
    for item in items:
        q.put(item)
    for _ in range(n_sentinels):
        q.put(SENTINEL)


def consumer(q, out_q):
    for item in iter(q.get, SENTINEL):
        out_q.put(item)


def run_pipeline(items, n_consumers=1):
    items = list(items)
    q = multiprocessing.Queue(maxsize=1000)
    out_q = multiprocessing.SimpleQueue()
    workers = [Process(target=consumer, args=(q, out_q)) for _ in range(n_consumers)]
    for w in workers:
        w.start()
    prod = Process(target=producer, args=(q, items, n_consumers))
    prod.start()
    results = [out_q.get() for _ in items]
    prod.join()
    for w in workers:
        w.join()
    return results
