"""Shared set-up of the plugin's own tests (``pytester`` is enabled in pyproject)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _same_output_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let inner pytest runs print the same in CI as on a developer's machine.

    pytest prints whole failure messages in the short summary when ``CI`` or
    ``BUILD_NUMBER`` is set, which changes what the pytester runs' output contains.
    """
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("BUILD_NUMBER", raising=False)
