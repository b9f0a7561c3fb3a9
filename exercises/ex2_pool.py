"""Exercise 2: ``Pool.map`` over CPU-bound work.

English
-------
What it is for
    A ``multiprocessing.Pool`` keeps a fixed number of worker processes and hands
    them tasks. ``pool.map(func, values)`` sends every value to some worker,
    runs ``func`` there, and gives back the results *in the order of the
    values*, whichever worker finished first. CPU-bound work (like the
    recursive Fibonacci below) gets faster with more cores only this way:
    threads cannot run Python code on two cores at once.

The one rule
    What you send to the workers must be picklable: the function and its
    arguments travel to another process as bytes, and the function travels
    *by name* (module + name). So ``func`` must be defined at the top level of
    a module. And the pool must be shut down when you are done: use it as a
    context manager (``with Pool(processes) as pool: ...``), which ends every
    worker process when the block is left, even on an exception.

The classic mistakes
    * ``pool.map(lambda x: fib(x), values)`` or a function defined inside
      another function: it cannot be pickled by name, so it fails with
      ``Can't pickle <function <lambda>>`` / ``Can't get local object``.
    * ``list(map(fib, values))``: the built-in ``map`` runs everything in this
      one process; nothing is parallel.
    * Forgetting to close the pool: worker processes stay alive.

What to write
    ``fib(n)``: the recursive Fibonacci (``fib(0) == 0``, ``fib(1) == 1``).
    ``parallel_map(func, values, processes=4)``: ``func`` applied to each value
    by a Pool of ``processes`` workers, results in input order; an exception in
    ``func`` reaches the caller; no worker is alive when it returns.
    ``parallel_fib(values, processes=4)``: ``parallel_map(fib, values, processes)``.

한국어
------
무엇을 위한 것인가
    ``multiprocessing.Pool`` 은 정해진 수의 작업자 프로세스를 두고 작업을
    나눠 줍니다. ``pool.map(func, values)`` 는 각 값을 어떤 작업자에게 보내
    그곳에서 ``func`` 를 실행하고, 어느 작업자가 먼저 끝나든 결과를 *입력 순서대로*
    돌려줍니다. 재귀 피보나치 같은 CPU 위주 작업은 이렇게 해야만 코어가 많을수록
    빨라집니다. 스레드로는 파이썬 코드를 두 코어에서 동시에 실행할 수 없습니다.

단 하나의 규칙
    작업자에게 보내는 것은 pickle 할 수 있어야 합니다. 함수와 인자는 바이트로
    바뀌어 다른 프로세스로 가는데, 함수는 *이름으로*(모듈 + 이름) 전달됩니다.
    그러므로 ``func`` 는 모듈 최상위에 정의되어야 합니다. 그리고 다 쓴 풀은
    닫아야 합니다. ``with Pool(processes) as pool: ...`` 처럼 컨텍스트 매니저로
    쓰면 블록을 벗어날 때(예외가 나도) 모든 작업자 프로세스가 끝납니다.

흔한 실수
    * ``pool.map(lambda x: fib(x), values)`` 나 함수 안에 정의한 함수: 이름으로
      pickle 할 수 없어서 ``Can't pickle <function <lambda>>`` /
      ``Can't get local object`` 오류가 납니다.
    * ``list(map(fib, values))``: 내장 ``map`` 은 모두 이 한 프로세스에서
      실행합니다. 병렬이 아닙니다.
    * 풀을 닫지 않음: 작업자 프로세스가 살아 남습니다.

작성할 것
    ``fib(n)``: 재귀 피보나치 (``fib(0) == 0``, ``fib(1) == 1``).
    ``parallel_map(func, values, processes=4)``: ``processes`` 개 작업자의 Pool 로
    각 값에 ``func`` 를 적용하고 입력 순서대로 결과를 돌려줍니다. ``func`` 의
    예외는 호출한 쪽까지 전달되고, 돌아올 때 살아 있는 작업자는 없어야 합니다.
    ``parallel_fib(values, processes=4)``: ``parallel_map(fib, values, processes)``.
"""

from __future__ import annotations

import multiprocessing  # noqa: F401  (you will need multiprocessing.Pool)
from collections.abc import Callable, Iterable
from typing import Any


def fib(n: int) -> int:
    """Return the n-th Fibonacci number, computed recursively (slowly, on purpose).

    n 번째 피보나치 수를 재귀로(일부러 느리게) 계산합니다.
    """
    raise NotImplementedError("ex2_pool: write fib (see the docstring at the top)")


def parallel_map(
    func: Callable[[Any], Any], values: Iterable[Any], processes: int = 4
) -> list[Any]:
    """Apply ``func`` to every value with a Pool of ``processes`` workers, in order.

    ``processes`` 개 작업자의 Pool 로 모든 값에 ``func`` 를 적용하고 순서대로 돌려줍니다.
    """
    raise NotImplementedError("ex2_pool: write parallel_map (see the docstring at the top)")


def parallel_fib(values: Iterable[int], processes: int = 4) -> list[int]:
    """Return ``[fib(v) for v in values]``, computed through :func:`parallel_map`.

    :func:`parallel_map` 으로 ``[fib(v) for v in values]`` 를 계산합니다.
    """
    raise NotImplementedError("ex2_pool: write parallel_fib (see the docstring at the top)")


if __name__ == "__main__":
    # 직접 실행해 보기 / try it by hand: python ex2_pool.py
    print(parallel_fib([25, 26, 27, 28]))
