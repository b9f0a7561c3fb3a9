"""Helpers the plugin's tests share to prove that processes are gone."""

from __future__ import annotations

import time
from pathlib import Path

import psutil


def pids_in(folder: Path, pattern: str = "*.pid") -> list[int]:
    """Return the pids written into the files of ``folder`` matching ``pattern``."""
    return [int(p.read_text()) for p in sorted(folder.glob(pattern)) if p.read_text().strip()]


def running(pid: int) -> bool:
    """Return whether ``pid`` is a live process (a zombie is not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def assert_all_gone(pids: list[int], within: float = 5.0) -> None:
    """Fail unless every process of ``pids`` has ended within ``within`` seconds."""
    deadline = time.monotonic() + within
    alive = [pid for pid in pids if running(pid)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [pid for pid in alive if running(pid)]
    assert not alive, f"still running: {alive}"
