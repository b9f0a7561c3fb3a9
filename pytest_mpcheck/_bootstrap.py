"""The first code each ``process_group`` child runs (kept import-light on purpose).

Under spawn and forkserver the child unpickles :func:`run` by reference and so
imports this module; importing :mod:`pytest_mpcheck.processes` instead would pull
in pytest (about 200 ms per child).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any


def run(target: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run ``target(*args, **kwargs)`` in a process group of its own (in the child).

    Its descendants inherit the group, so the fixture and the reaper can end them
    all with one ``killpg`` even after they are re-parented.
    """
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
    return target(*args, **kwargs)
