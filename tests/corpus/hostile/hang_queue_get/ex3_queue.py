"""Hangs: the consumer waits for a sentinel that is never put; the parent joins it."""
import multiprocessing

SENTINEL = None


def producer(q, items, n_sentinels=1):
    for item in items:
        q.put(item)
    # the sentinel is forgotten


def consumer(q, out_q):
    while True:
        item = q.get()
        if item is SENTINEL:
            return
        out_q.put(item)


def run_pipeline(items, n_consumers=1):
    q, out_q = multiprocessing.Queue(), multiprocessing.Queue()
    c = multiprocessing.Process(target=consumer, args=(q, out_q))
    c.start()
    producer(q, items)
    c.join()
    return []
