"""Text for the terminal: wrapping that knows Korean characters take two columns."""

from __future__ import annotations

import shutil
import unicodedata

__all__ = ["display_width", "terminal_width", "wrap"]

MAX_WIDTH = 88


def display_width(text: str) -> int:
    """Return how many terminal columns ``text`` takes (wide and full-width count 2)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def terminal_width() -> int:
    """Return the width to wrap at: the terminal's, at most :data:`MAX_WIDTH`."""
    return min(shutil.get_terminal_size((80, 24)).columns, MAX_WIDTH)


def _fill(paragraph: str, width: int, indent: str) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in paragraph.split():
        candidate = f"{current} {word}" if current else word
        if current and display_width(indent + candidate) > width:
            lines.append(indent + current)
            current = word
        else:
            current = candidate
    if current:
        lines.append(indent + current)
    return lines


def wrap(text: str, width: int | None = None, indent: str = "") -> str:
    """Wrap ``text`` paragraph by paragraph, leaving code (indented lines) as it is."""
    width = terminal_width() if width is None else width
    out: list[str] = []
    for paragraph in text.split("\n\n"):
        lines = paragraph.split("\n")
        if any(line[:1].isspace() for line in lines):
            out.extend(indent + line if line else "" for line in lines)
        else:
            out.extend(_fill(paragraph, width, indent))
        out.append("")
    return "\n".join(out[:-1])
