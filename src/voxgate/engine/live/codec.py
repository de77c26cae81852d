"""The session's audio format as seen by a Live session: the one seam to its PCM conversions.

A Live WebSocket session uses one format for input and output (``audio/pcm`` at 24 or 16 kHz, G.711 at
8 kHz); sidebands and the voice pipeline's reflections are always PCM16 24 kHz. The conversions need
numpy, so the server layer provides them; the identity below serves PCM16 24 kHz (and every WebRTC call,
whose track always delivers it).
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["PCM24", "AudioCodec"]


class AudioCodec(Protocol):
    """Converts between a session's audio format and PCM16 24 kHz mono."""

    bytes_per_ms: int

    def to_pcm24(self, audio: bytes) -> bytes:
        """Session-format audio → PCM16 24 kHz."""
        ...

    def from_pcm24(self, pcm: bytes) -> bytes:
        """PCM16 24 kHz → the session format."""
        ...


class _Pcm24:
    bytes_per_ms = 48

    def to_pcm24(self, audio: bytes) -> bytes:
        return audio

    def from_pcm24(self, pcm: bytes) -> bytes:
        return pcm


PCM24: AudioCodec = _Pcm24()
