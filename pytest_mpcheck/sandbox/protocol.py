"""The framing of the child's result channel (a pipe), shared by child and supervisor.

A frame is ``token + kind + length + payload``. The token is 16 random bytes the
supervisor hands to the child before any learner code runs, so bytes that the
learner's code writes into the pipe (it can find the descriptor in
``/proc/self/fd``) are skipped as noise instead of being taken for a result.
Imported by the child, so it imports nothing heavy.
"""

from __future__ import annotations

import struct

__all__ = ["KIND_PHASE", "KIND_RESULT", "TOKEN_SIZE", "FrameReader", "encode_frame"]

TOKEN_SIZE = 16
#: Payload: the ASCII name of the phase the child enters (``import``, ``call``).
KIND_PHASE = b"P"
#: Payload: a pickle of a dict of builtins (see ``child.py``); the last frame.
KIND_RESULT = b"R"
_KINDS = (KIND_PHASE, KIND_RESULT)
_HEADER = struct.Struct(">cQ")
#: A result larger than this is refused (a learner returning gigabytes).
MAX_PAYLOAD = 256 * 1024 * 1024


def encode_frame(token: bytes, kind: bytes, payload: bytes) -> bytes:
    """Return the bytes of one frame."""
    return token + _HEADER.pack(kind, len(payload)) + payload


class FrameReader:
    """Accumulates bytes from the pipe and yields complete frames carrying ``token``."""

    def __init__(self, token: bytes) -> None:
        self._token = token
        self._buffer = bytearray()
        self.noise = 0  # bytes skipped because they were not inside a frame
        self.oversized = False

    def feed(self, data: bytes) -> list[tuple[bytes, bytes]]:
        """Add ``data``; return the ``(kind, payload)`` of every frame now complete."""
        self._buffer += data
        frames: list[tuple[bytes, bytes]] = []
        while True:
            start = self._buffer.find(self._token)
            if start < 0:
                # Keep a tail that may be the start of a token split across reads.
                keep = TOKEN_SIZE - 1
                if len(self._buffer) > keep:
                    self.noise += len(self._buffer) - keep
                    del self._buffer[: len(self._buffer) - keep]
                return frames
            if start:
                self.noise += start
                del self._buffer[:start]
            header_end = TOKEN_SIZE + _HEADER.size
            if len(self._buffer) < header_end:
                return frames
            kind, length = _HEADER.unpack_from(self._buffer, TOKEN_SIZE)
            if kind not in _KINDS or length > MAX_PAYLOAD:
                # A forged or corrupted header: skip this token and look further.
                self.oversized = self.oversized or length > MAX_PAYLOAD
                self.noise += TOKEN_SIZE
                del self._buffer[:TOKEN_SIZE]
                continue
            if len(self._buffer) < header_end + length:
                return frames
            frames.append((kind, bytes(self._buffer[header_end : header_end + length])))
            del self._buffer[: header_end + length]
