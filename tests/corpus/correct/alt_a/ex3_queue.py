"""Correct, written differently: JoinableQueue, Process subclasses, results counted."""
import multiprocessing
import multiprocessing.queues

SENTINEL = None


def producer(q, items, n_sentinels=1):
    for item in items:
        q.put(item)
    for _ in range(n_sentinels):
        q.put(SENTINEL)


def consumer(q, out_q):
    while True:
        item = q.get()
        try:
            if item is SENTINEL:
                break
            out_q.put(item)
        finally:
            if isinstance(q, multiprocessing.queues.JoinableQueue):
                q.task_done()


def run_pipeline(items, n_consumers=1):
    ctx = multiprocessing.get_context()
    q = ctx.JoinableQueue()
    out_q = ctx.Queue()
    procs = [ctx.Process(target=producer, args=(q, list(items), n_consumers))]
    procs += [ctx.Process(target=consumer, args=(q, out_q)) for _ in range(n_consumers)]
    for p in procs:
        p.start()
    results = []
    while len(results) < len(items):
        results.append(out_q.get(timeout=60))
    for p in procs:
        p.join(60)
    return results
