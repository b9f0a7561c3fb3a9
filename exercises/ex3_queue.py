"""Exercise 3: a producer and consumers joined by a queue, ended by a sentinel.

English
-------
What it is for
    A ``multiprocessing.Queue`` carries items from one process to another: the
    producer ``put``s items, each consumer ``get``s them, in first-in,
    first-out order. It is how processes hand work to each other without
    sharing memory.

The one rule
    A consumer blocked in ``q.get()`` waits forever unless something tells it
    the stream is over. That something is the *sentinel*: a value that is never
    a real item (here ``SENTINEL = None``). The producer puts one sentinel *per
    consumer* after the last item; each consumer stops right after taking its
    sentinel. And a process that has put items on a queue does not finish until
    they have been taken out, so the parent takes every result off the output
    queue *before* it joins the processes.

The classic mistakes
    * No sentinel at all, or one sentinel for three consumers: the other
      consumers wait in ``get()`` forever and ``join()`` never returns.
    * Joining the consumers before reading their results: with many items the
      consumer is stuck flushing its queue, the parent is stuck in ``join()``,
      and the program deadlocks.
    * Checking ``q.empty()`` to decide that the stream is over: a queue can be
      empty for a moment while the producer is still producing.

What to write
    ``producer(q, items, n_sentinels=1)``: put every item in order, then
    ``n_sentinels`` sentinels.
    ``consumer(q, out_q)``: take items until a sentinel; forward each item that
    is not the sentinel to ``out_q``, in the order taken; return right after
    the sentinel.
    ``run_pipeline(items, n_consumers=1)``: one producer process and
    ``n_consumers`` consumer processes; return every item consumed, exactly
    once (in the original order with one consumer); every process has exited
    with code 0 when it returns, even with tens of thousands of items.

한국어
------
무엇을 위한 것인가
    ``multiprocessing.Queue`` 는 한 프로세스에서 다른 프로세스로 항목을
    나릅니다. 생산자가 ``put`` 하고 소비자가 ``get`` 하며, 먼저 넣은 것이 먼저
    나옵니다(FIFO). 메모리를 공유하지 않고 프로세스끼리 일을 넘기는 방법입니다.

단 하나의 규칙
    ``q.get()`` 에서 기다리는 소비자는, 스트림이 끝났다고 알려 주지 않으면
    영원히 기다립니다. 그것을 알려 주는 값이 *센티널* 입니다. 진짜 항목이 될 수
    없는 값(여기서는 ``SENTINEL = None``)입니다. 생산자는 마지막 항목 뒤에
    *소비자마다 하나씩* 센티널을 넣고, 각 소비자는 센티널을 받으면 바로
    멈춥니다. 또한 큐에 항목을 넣은 프로세스는 그 항목들이 꺼내질 때까지 끝나지
    않으므로, 부모는 프로세스들을 join 하기 *전에* 출력 큐에서 결과를 모두
    꺼내야 합니다.

흔한 실수
    * 센티널이 없거나, 소비자가 셋인데 센티널이 하나: 나머지 소비자는
      ``get()`` 에서 영원히 기다리고 ``join()`` 은 돌아오지 않습니다.
    * 결과를 읽기 전에 소비자를 join: 항목이 많으면 소비자는 큐를 비우려다
      멈추고, 부모는 ``join()`` 에서 멈춰 교착 상태가 됩니다.
    * ``q.empty()`` 로 끝을 판단: 생산자가 아직 만드는 중에도 큐는 잠깐 비어 있을
      수 있습니다.

작성할 것
    ``producer(q, items, n_sentinels=1)``: 모든 항목을 순서대로 넣고, 이어서
    ``n_sentinels`` 개의 센티널을 넣습니다.
    ``consumer(q, out_q)``: 센티널을 받을 때까지 항목을 꺼내, 센티널이 아닌
    항목은 꺼낸 순서대로 ``out_q`` 에 넘기고, 센티널 직후에 돌아옵니다.
    ``run_pipeline(items, n_consumers=1)``: 생산자 프로세스 하나와 소비자 프로세스
    ``n_consumers`` 개를 만들어, 소비된 모든 항목을 정확히 한 번씩(소비자가
    하나면 원래 순서대로) 돌려줍니다. 돌아올 때 모든 프로세스는 종료 코드 0 으로
    끝나 있어야 하며, 항목이 수만 개여도 마찬가지입니다.
"""

from __future__ import annotations

import multiprocessing  # noqa: F401  (you will need multiprocessing.Queue and Process)
from typing import Any

SENTINEL = None


def producer(q: Any, items: list[Any], n_sentinels: int = 1) -> None:
    """Put every item on ``q`` in order, then ``n_sentinels`` sentinels.

    모든 항목을 순서대로 ``q`` 에 넣고, 이어서 센티널을 ``n_sentinels`` 개 넣습니다.
    """
    raise NotImplementedError("ex3_queue: write producer (see the docstring at the top)")


def consumer(q: Any, out_q: Any) -> None:
    """Forward items from ``q`` to ``out_q`` until a sentinel; then return.

    센티널을 받을 때까지 ``q`` 의 항목을 ``out_q`` 로 넘기고, 센티널을 받으면 돌아옵니다.
    """
    raise NotImplementedError("ex3_queue: write consumer (see the docstring at the top)")


def run_pipeline(items: list[Any], n_consumers: int = 1) -> list[Any]:
    """Run one producer and ``n_consumers`` consumers; return every item consumed.

    생산자 하나와 소비자 ``n_consumers`` 개를 실행하고, 소비된 모든 항목을 돌려줍니다.
    """
    raise NotImplementedError("ex3_queue: write run_pipeline (see the docstring at the top)")


if __name__ == "__main__":
    # 직접 실행해 보기 / try it by hand: python ex3_queue.py
    print(run_pipeline(list(range(10)), n_consumers=2))
