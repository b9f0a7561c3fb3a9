"""Correct, written differently: a context's Manager, dict comprehension copy."""
import multiprocessing


def worker(d, l, key, value):
    d[key] = value
    l.append(key)


def collect(n):
    ctx = multiprocessing.get_context()
    with ctx.Manager() as m:
        d = m.dict()
        l = m.list()
        ps = [ctx.Process(target=worker, args=(d, l, k, k * 10)) for k in range(n)]
        [p.start() for p in ps]
        [p.join() for p in ps]
        plain_d = {k: d[k] for k in d.keys()}
        plain_l = [x for x in l]
    return plain_d, plain_l
