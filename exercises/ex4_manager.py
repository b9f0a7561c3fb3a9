"""Exercise 4: shared state through a ``Manager``.

English
-------
What it is for
    Every process has its own memory. A plain ``dict`` passed to a child
    process is *copied* into it: the child changes its own copy and the parent
    never sees the change. A ``multiprocessing.Manager`` starts a small server
    process that owns one real dict (or list); ``manager.dict()`` gives you a
    *proxy* to it. Every process that uses the proxy sends its reads and
    writes to the server, so all of them see the same data.

The one rule
    The proxies work only while the manager is running. Use the manager as a
    context manager (``with Manager() as manager: ...``), join the workers
    inside the block, and copy what you need out of the proxies
    (``dict(d)``, ``list(l)``) *before* the block ends: when it ends the
    manager's server process stops and every proxy goes dead.

The classic mistakes
    * A plain ``{}`` or ``[]`` instead of ``manager.dict()`` / ``manager.list()``:
      the result comes back empty, because every child changed its own copy.
    * Returning the proxies themselves: once the manager has shut down, reading
      them fails (``BrokenPipeError``, ``ConnectionRefusedError``, ``EOFError``).
    * Forgetting to shut the manager down: its server process stays alive.

What to write
    ``worker(d, l, key, value)``: ``d[key] = value``, then ``l.append(key)``.
    ``collect(n)``: start a Manager, run ``n`` processes (the i-th calls
    ``worker(d, l, i, i * 10)``), join them, and return plain ``dict`` and
    ``list`` copies; the manager's process is gone when it returns.

한국어
------
무엇을 위한 것인가
    프로세스마다 자기만의 메모리가 있습니다. 자식 프로세스에 넘긴 보통
    ``dict`` 는 자식에게 *복사* 되므로, 자식은 자기 복사본을 바꾸고 부모는 그
    변화를 보지 못합니다. ``multiprocessing.Manager`` 는 진짜 dict(또는 list)를
    가진 작은 서버 프로세스를 띄우고, ``manager.dict()`` 는 그것을 가리키는
    *프록시* 를 줍니다. 프록시를 쓰는 모든 프로세스는 읽기와 쓰기를 서버로
    보내므로 모두 같은 데이터를 봅니다.

단 하나의 규칙
    프록시는 매니저가 실행 중일 때만 동작합니다. 매니저를 컨텍스트 매니저로 쓰고
    (``with Manager() as manager: ...``), 블록 안에서 작업자들을 join 하고, 블록이
    끝나기 *전에* 필요한 것을 프록시에서 복사해 두세요(``dict(d)``, ``list(l)``).
    블록이 끝나면 매니저의 서버 프로세스가 멈추고 모든 프록시는 쓸 수 없게 됩니다.

흔한 실수
    * ``manager.dict()`` / ``manager.list()`` 대신 보통 ``{}`` 나 ``[]`` 를 사용:
      자식마다 자기 복사본을 바꾸므로 결과가 비어서 돌아옵니다.
    * 프록시 자체를 돌려줌: 매니저가 멈춘 뒤 읽으면 실패합니다
      (``BrokenPipeError``, ``ConnectionRefusedError``, ``EOFError``).
    * 매니저를 종료하지 않음: 서버 프로세스가 살아 남습니다.

작성할 것
    ``worker(d, l, key, value)``: ``d[key] = value`` 다음에 ``l.append(key)``.
    ``collect(n)``: Manager 를 시작하고, 프로세스 ``n`` 개를 실행하고(i 번째는
    ``worker(d, l, i, i * 10)`` 호출), join 한 뒤, 보통 ``dict`` 와 ``list``
    복사본을 돌려줍니다. 돌아올 때 매니저의 프로세스는 없어야 합니다.
"""

from __future__ import annotations

import multiprocessing  # noqa: F401  (you will need multiprocessing.Manager and Process)
from typing import Any


def worker(d: Any, l: Any, key: Any, value: Any) -> None:  # noqa: E741
    """Set ``d[key] = value``, then append ``key`` to ``l``.

    ``d[key] = value`` 로 설정한 다음 ``l`` 에 ``key`` 를 추가합니다.
    """
    raise NotImplementedError("ex4_manager: write worker (see the docstring at the top)")


def collect(n: int) -> tuple[dict[Any, Any], list[Any]]:
    """Run ``n`` workers on a Manager's dict and list; return plain copies.

    Manager 의 dict 와 list 에 작업자 ``n`` 개를 실행하고, 보통 복사본을 돌려줍니다.
    """
    raise NotImplementedError("ex4_manager: write collect (see the docstring at the top)")


if __name__ == "__main__":
    # 직접 실행해 보기 / try it by hand: python ex4_manager.py
    print(collect(4))
