"""Exercise 1: start processes, then join them.

English
-------
What it is for
    A ``multiprocessing.Process`` runs a function in a separate Python process,
    with its own interpreter and its own memory, so several of them can use
    several CPU cores at once. ``start()`` launches the process and returns at
    once; ``join()`` waits until it has finished.

The one rule
    Start *every* process first, and only then join them. Joining waits, so a
    ``join()`` inside the loop that starts the processes makes each process
    finish before the next one begins: the program becomes serial again.

The classic mistake
    ::

        for i in range(n):
            p = Process(target=worker, args=(i,))
            p.start()
            p.join()        # waits here: no two processes ever run together

    Write two loops instead: one that creates and starts all of them, a second
    one that joins all of them. Also, everything a process runs must be defined
    at the top level of a module (no lambda, no function inside a function):
    under the ``spawn`` and ``forkserver`` start methods the new process imports
    it by name.

What to write
    ``worker(num)`` prints one line with ``num`` and the PID of the process
    running it, for example ``f"프로세스 {num} 시작, PID={os.getpid()}"``.
    ``start_workers(n, target=worker)`` creates ``n`` processes, the i-th calling
    ``target(i)``, starts all of them, then joins all of them, and returns the
    process objects in order ``0..n-1``.

한국어
------
무엇을 위한 것인가
    ``multiprocessing.Process`` 는 함수를 별도의 파이썬 프로세스(자기만의
    인터프리터와 메모리)에서 실행합니다. 그래서 여러 프로세스가 여러 CPU 코어를
    동시에 쓸 수 있습니다. ``start()`` 는 프로세스를 띄우고 바로 돌아오며,
    ``join()`` 은 그 프로세스가 끝날 때까지 기다립니다.

단 하나의 규칙
    *모든* 프로세스를 먼저 시작하고, 그다음에 join 하세요. join 은 기다리는
    호출이므로, 시작하는 반복문 안에서 ``join()`` 을 부르면 각 프로세스가 끝나야
    다음 프로세스가 시작됩니다. 결국 순차 실행이 됩니다.

흔한 실수
    위의 예처럼 ``start()`` 바로 다음에 ``join()`` 을 부르는 것입니다. 반복문을
    두 개로 나누세요: 하나는 모두 만들고 시작하는 반복문, 다른 하나는 모두
    join 하는 반복문. 또한 프로세스가 실행하는 함수는 모듈 최상위에 정의해야
    합니다(lambda 나 함수 안의 함수는 안 됩니다). ``spawn`` 과 ``forkserver``
    방식에서는 새 프로세스가 그 함수를 이름으로 import 하기 때문입니다.

작성할 것
    ``worker(num)`` 은 ``num`` 과 자신을 실행하는 프로세스의 PID 를 담은 한 줄을
    출력합니다. 예: ``f"프로세스 {num} 시작, PID={os.getpid()}"``.
    ``start_workers(n, target=worker)`` 는 ``n`` 개의 프로세스를 만들고(i 번째는
    ``target(i)`` 호출), 모두 시작한 뒤 모두 join 하고, 프로세스 객체들을
    ``0..n-1`` 순서로 돌려줍니다.
"""

from __future__ import annotations

import multiprocessing
import os  # noqa: F401  (you will need os.getpid())
from collections.abc import Callable


def worker(num: int) -> None:
    """Print one line holding ``num`` and this process's PID.

    ``num`` 과 이 프로세스의 PID 를 담은 한 줄을 출력합니다.
    """
    raise NotImplementedError("ex1_process: write worker (see the docstring at the top)")


def start_workers(
    n: int, target: Callable[[int], None] = worker
) -> list[multiprocessing.process.BaseProcess]:
    """Start ``n`` processes calling ``target(i)``, then join them all; return them in order.

    ``n`` 개의 프로세스(i 번째는 ``target(i)``)를 모두 시작한 뒤 모두 join 하고,
    순서대로 돌려줍니다.
    """
    raise NotImplementedError(
        "ex1_process: write start_workers (see the docstring at the top)"
    )


if __name__ == "__main__":
    # 직접 실행해 보기 / try it by hand: python ex1_process.py
    for proc in start_workers(4):
        print(proc.name, proc.exitcode)
