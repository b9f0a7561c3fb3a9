"""Buggy: joins the consumers before taking their results off the output queue."""
import multiprocessing

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
    q = multiprocessing.Queue()
    out_q = multiprocessing.Queue()
    prod = multiprocessing.Process(target=producer, args=(q, items, n_consumers))
    cons = [multiprocessing.Process(target=consumer, args=(q, out_q)) for _ in range(n_consumers)]
    prod.start()
    for c in cons:
        c.start()
    prod.join()
    for c in cons:
        c.join()  # the bug: a consumer cannot exit while its results sit in out_q
    return [out_q.get() for _ in range(len(items))]
