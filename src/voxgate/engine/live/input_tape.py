"""Recent input audio of a Live session, addressed by session time, for the spans turns commit.

GPT-Live has no input buffer the client sees (no commit, no clear): the voice pipeline decides where a
turn starts and ends, and the session hands it exactly that span. Older audio is dropped as the pipeline
says it will never be needed, and past ``max_bytes`` whatever is oldest goes first, so a long call keeps
a bounded amount.
"""

from __future__ import annotations

__all__ = ["InputTape"]


class InputTape:
    """A window of the input stream: ``bytes_per_ms`` bytes per millisecond, from ``start`` on."""

    def __init__(self, bytes_per_ms: int, *, max_bytes: int) -> None:
        self._per_ms = bytes_per_ms
        self._max = max_bytes
        self._data = bytearray()
        self._start = 0  # stream offset (bytes) of self._data[0]

    def append(self, audio: bytes) -> None:
        """Add audio at the end of the stream."""
        self._data += audio
        if len(self._data) > self._max:
            self._drop(len(self._data) - self._max)

    def _drop(self, count: int) -> None:
        count -= count % 2  # keep sample alignment for PCM16
        del self._data[:count]
        self._start += count

    def discard_before(self, ms: float) -> None:
        """Forget audio before ``ms``."""
        cut = int(ms * self._per_ms) - self._start
        if cut > 0:
            self._drop(min(cut, len(self._data)))

    def span(self, start_ms: float | None, end_ms: float | None) -> bytes:
        """The audio of ``[start_ms, end_ms)`` still held (all of it for None bounds)."""
        end = len(self._data) if end_ms is None else int(end_ms * self._per_ms) - self._start
        start = 0 if start_ms is None else max(0, int(start_ms * self._per_ms) - self._start)
        start -= start % 2
        end = max(start, min(len(self._data), end - end % 2))
        return bytes(self._data[start:end])
