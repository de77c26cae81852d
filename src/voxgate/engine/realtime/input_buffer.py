"""The input audio buffer: ``input_audio_buffer.append``/``commit``/``clear`` semantics. Sans-I/O.

Audio arrives base64 from WebSocket clients (``append``) or as PCM16 from the WebRTC track; both land
here, so a later turn detector sees one stream whatever the transport.
"""

from __future__ import annotations

import base64
import binascii

from voxgate.errors import InvalidRequest

__all__ = ["InputAudioBuffer", "bytes_per_ms"]

# Below this the real server refuses a commit: "buffer too small. Expected at least 100ms of audio".
MIN_COMMIT_MS = 100


def bytes_per_ms(audio_format: dict[str, object] | None) -> int:
    """Bytes per millisecond of a GA audio format: PCM16 24 kHz = 48, G.711 (8 kHz, 8 bit) = 8."""
    kind = (audio_format or {}).get("type", "audio/pcm")
    return 8 if kind in ("audio/pcmu", "audio/pcma") else 48


class InputAudioBuffer:
    """Uncommitted input audio, capped at ``max_bytes`` (the oldest audio goes first)."""

    def __init__(self, *, max_append_bytes: int, max_bytes: int) -> None:
        self._max_append = max_append_bytes
        self._max = max_bytes
        self._data = bytearray()
        # Total audio ever added, in bytes: the time base for ``audio_start_ms``/``audio_end_ms``.
        self.total_bytes = 0

    def __len__(self) -> int:
        return len(self._data)

    def append_base64(self, audio: str) -> bytes:
        """Decode and add one ``append`` payload; returns the decoded bytes.

        Raises :class:`InvalidRequest` for bad base64 or a payload above the per-event limit.
        """
        # Decoded size is at most 3/4 of the text: refuse huge events before decoding them.
        if len(audio) // 4 * 3 > self._max_append + 3:
            raise InvalidRequest(
                f"Audio payload too large: the maximum is {self._max_append} bytes per event.",
                code="audio_too_large",
                param="audio",
            )
        try:
            data = base64.b64decode(audio, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest("Invalid 'audio': expected base64-encoded audio.", param="audio") from None
        if len(data) > self._max_append:
            raise InvalidRequest(
                f"Audio payload too large: the maximum is {self._max_append} bytes per event.",
                code="audio_too_large",
                param="audio",
            )
        self.feed(data)
        return data

    def feed(self, data: bytes) -> None:
        """Add raw audio (already in the session's input format)."""
        self._data += data
        self.total_bytes += len(data)
        overflow = len(self._data) - self._max
        if overflow > 0:
            # Keep sample alignment (2 bytes for PCM16) while dropping the oldest audio.
            del self._data[: overflow + (overflow % 2)]

    def discard_before(self, position: int) -> None:
        """Drop buffered audio before the absolute byte ``position`` of the stream (see ``total_bytes``)."""
        drop = min(len(self._data), max(0, position - (self.total_bytes - len(self._data))))
        del self._data[: drop - drop % 2]

    def commit(self, per_ms: int, *, start: int | None = None, end: int | None = None) -> bytes:
        """Take the buffer, or only its audio between the absolute byte positions ``start`` and ``end``
        (audio before ``start`` is dropped, audio after ``end`` stays for the next turn).

        Raises :class:`InvalidRequest` below 100 ms, as the real server does.
        """
        if start is not None:
            self.discard_before(start)
        keep = 0
        if end is not None:
            keep = min(len(self._data), max(0, self.total_bytes - end))
            keep -= keep % 2
        have_ms = (len(self._data) - keep) / per_ms
        if have_ms < MIN_COMMIT_MS:
            raise InvalidRequest(
                "Error committing input audio buffer: buffer too small. Expected at least "
                f"{MIN_COMMIT_MS}ms of audio, but buffer only has {have_ms:.2f}ms of audio.",
                code="input_audio_buffer_commit_empty",
                param=None,
            )
        data = bytes(self._data[: len(self._data) - keep])
        del self._data[: len(self._data) - keep]
        return data

    def clear(self) -> None:
        """Drop the uncommitted audio."""
        self._data.clear()
