"""Shared set-up of the plugin's own tests (``pytester`` is enabled in pyproject)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pytest_mpcheck.i18n import current_language, set_language


@pytest.fixture(autouse=True)
def _same_output_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let inner pytest runs print the same in CI as on a developer's machine.

    pytest prints whole failure messages in the short summary when ``CI`` or
    ``BUILD_NUMBER`` is set, which changes what the pytester runs' output contains.
    """
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("BUILD_NUMBER", raising=False)


@pytest.fixture(autouse=True)
def _language_restored() -> Iterator[None]:
    """Give every test the message language the one before it started with.

    Tests that call ``mpcheck``'s ``main()`` in this process with ``--lang ko``
    switch the process-wide language; later tests assert English messages.
    """
    before = current_language()
    yield
    set_language(before)
