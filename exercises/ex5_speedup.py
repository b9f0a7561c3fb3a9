"""Exercise 5: serial against parallel, measured.

English
-------
What it is for
    Parallel code is worth its trouble only if it is faster. Here you compute
    the same CPU-bound work twice, once in this process (serial) and once with
    a Pool, and measure both. With two cores and enough work the Pool version
    takes about half the time; with tiny work it can be *slower*, because
    starting processes and sending data to them costs time too.

The one rule
    Measure honestly: use ``time.perf_counter()`` (a clock made for measuring
    intervals), take the best of several repeats (the machine is noisy; the
    best run is the one least disturbed), and compare the same work computed
    the same way. The work function given to the Pool must be defined at the
    top level of the module, so that worker processes can import it.

The classic mistakes
    * ``Pool(1)`` or the built-in ``map``: nothing runs in parallel, the
      "speedup" is 1 or less.
    * A lambda or a nested function as the work: it cannot be pickled under
      the ``spawn`` start method.
    * Timing with ``time.time()`` once: one noisy run says nothing.

What to write
    ``heavy(x, n=1_000_000)``: ``sum(i * x for i in range(n))`` with a Python
    loop (slow on purpose).
    ``run_serial(data, n)``: ``[heavy(x, n) for x in data]``.
    ``run_parallel(data, processes=2, n)``: the same results from a Pool of
    ``processes`` workers.
    ``compare(data, processes=2, n, repeat=3)``: the best of ``repeat`` timings
    of each, as ``{"serial_s": ..., "parallel_s": ..., "speedup": ...}`` with
    ``speedup == serial_s / parallel_s``.

한국어
------
무엇을 위한 것인가
    병렬 코드는 빨라질 때만 수고할 가치가 있습니다. 여기서는 같은 CPU 위주
    작업을 두 번, 한 번은 이 프로세스에서(순차) 한 번은 Pool 로 계산하고 둘 다
    측정합니다. 코어가 둘이고 작업이 충분하면 Pool 쪽이 대략 절반의 시간이
    걸립니다. 작업이 아주 작으면 오히려 *느릴* 수 있습니다. 프로세스를 띄우고
    데이터를 보내는 데도 시간이 들기 때문입니다.

단 하나의 규칙
    정직하게 측정하세요. 구간 측정용 시계인 ``time.perf_counter()`` 를 쓰고,
    여러 번 반복해 가장 좋은 값을 택하고(기계는 늘 잡음이 있고, 가장 좋은 값이
    가장 덜 방해받은 실행입니다), 같은 작업을 같은 방식으로 계산해 비교합니다.
    Pool 에 주는 작업 함수는 작업자 프로세스가 import 할 수 있도록 모듈 최상위에
    정의해야 합니다.

흔한 실수
    * ``Pool(1)`` 이나 내장 ``map``: 아무것도 병렬로 돌지 않아 "속도 향상" 이
      1 이하입니다.
    * 작업으로 lambda 나 중첩 함수를 사용: ``spawn`` 방식에서 pickle 할 수 없습니다.
    * ``time.time()`` 으로 한 번만 측정: 잡음 섞인 한 번의 측정으로는 알 수 없습니다.

작성할 것
    ``heavy(x, n=1_000_000)``: 파이썬 반복문으로(일부러 느리게)
    ``sum(i * x for i in range(n))``.
    ``run_serial(data, n)``: ``[heavy(x, n) for x in data]``.
    ``run_parallel(data, processes=2, n)``: 같은 결과를 ``processes`` 개 작업자의
    Pool 로 계산.
    ``compare(data, processes=2, n, repeat=3)``: 각각 ``repeat`` 번 측정한 가장
    좋은 값을 ``{"serial_s": ..., "parallel_s": ..., "speedup": ...}`` 로,
    ``speedup == serial_s / parallel_s`` 가 되게 돌려줍니다.
"""

from __future__ import annotations

import multiprocessing  # noqa: F401  (you will need multiprocessing.Pool)
import time  # noqa: F401  (you will need time.perf_counter)
from collections.abc import Sequence


def heavy(x: int, n: int = 1_000_000) -> int:
    """Return ``sum(i * x for i in range(n))``, computed with a Python loop.

    파이썬 반복문으로 ``sum(i * x for i in range(n))`` 를 계산합니다.
    """
    raise NotImplementedError("ex5_speedup: write heavy (see the docstring at the top)")


def run_serial(data: Sequence[int], n: int = 1_000_000) -> list[int]:
    """Return ``[heavy(x, n) for x in data]``, in this process.

    이 프로세스에서 ``[heavy(x, n) for x in data]`` 를 돌려줍니다.
    """
    raise NotImplementedError("ex5_speedup: write run_serial (see the docstring at the top)")


def run_parallel(data: Sequence[int], processes: int = 2, n: int = 1_000_000) -> list[int]:
    """Return the same results as :func:`run_serial`, computed by a Pool.

    :func:`run_serial` 과 같은 결과를 Pool 로 계산해 돌려줍니다.
    """
    raise NotImplementedError("ex5_speedup: write run_parallel (see the docstring at the top)")


def compare(
    data: Sequence[int], processes: int = 2, n: int = 1_000_000, repeat: int = 3
) -> dict[str, float]:
    """Time both (best of ``repeat``) and return serial_s, parallel_s and speedup.

    둘 다(``repeat`` 번 중 최고 기록) 측정해 serial_s, parallel_s, speedup 을 돌려줍니다.
    """
    raise NotImplementedError("ex5_speedup: write compare (see the docstring at the top)")


if __name__ == "__main__":
    # 직접 실행해 보기 / try it by hand: python ex5_speedup.py
    print(compare([1, 2, 3, 4]))
