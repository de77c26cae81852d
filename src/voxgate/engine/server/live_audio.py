"""The audio formats a Live WebSocket session may choose (reference §2), as codecs for the session.

``audio/pcm`` at 24 kHz passes through; at 16 kHz it is resampled both ways; ``audio/pcmu`` and
``audio/pcma`` (G.711 at 8 kHz) are decoded on the way in (by the voice pipeline's own tables) and
encoded on the way out. Each direction keeps its resampler's state, since both are continuous streams.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from voxgate.engine.audio import StreamResampler, pcm16_to_int16
from voxgate.engine.live.codec import PCM24, AudioCodec
from voxgate.engine.voice.input_audio import decode_input

__all__ = ["codec_for", "encode_g711"]

# Segment ends of the G.711 reference encoder (ITU-T G.711, Sun's g711.c): 14-bit µ-law, 13-bit A-law.
_ULAW_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_ALAW_ENDS = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])


def _ulaw(samples: np.ndarray) -> np.ndarray:
    value = samples.astype(np.int32) >> 2
    mask = np.where(value < 0, 0x7F, 0xFF)
    value = np.minimum(np.abs(value), 8159) + 33
    segment = np.searchsorted(_ULAW_ENDS, value)
    code = np.where(segment >= 8, 0x7F, (segment << 4) | ((value >> (segment + 1)) & 0x0F))
    return (code ^ mask).astype(np.uint8)


def _alaw(samples: np.ndarray) -> np.ndarray:
    value = samples.astype(np.int32) >> 3
    mask = np.where(value >= 0, 0xD5, 0x55)
    value = np.where(value >= 0, value, -value - 1)
    segment = np.searchsorted(_ALAW_ENDS, value)
    mantissa = (value >> np.where(segment < 2, 1, segment)) & 0x0F
    code = np.where(segment >= 8, 0x7F, (segment << 4) | mantissa)
    return (code ^ mask).astype(np.uint8)


def encode_g711(pcm16: bytes, kind: str) -> bytes:
    """PCM16 (8 kHz) → G.711 µ-law (``audio/pcmu``) or A-law (``audio/pcma``)."""
    samples = pcm16_to_int16(pcm16)
    return bytes((_ulaw if kind == "audio/pcmu" else _alaw)(samples).tobytes())


class _Codec:
    def __init__(self, audio_format: Mapping[str, Any]) -> None:
        self._format = dict(audio_format)
        self._kind = str(audio_format.get("type", "audio/pcm"))
        self._rate = 8000 if self._kind != "audio/pcm" else int(audio_format.get("rate") or 24000)
        self.bytes_per_ms = 8 if self._kind != "audio/pcm" else self._rate * 2 // 1000
        self._in = StreamResampler(self._rate, 24000)
        self._out = StreamResampler(24000, self._rate)

    def to_pcm24(self, audio: bytes) -> bytes:
        pcm, _ = decode_input(audio, self._format)
        return self._in.process(pcm)

    def from_pcm24(self, pcm: bytes) -> bytes:
        out = self._out.process(pcm)
        return out if self._kind == "audio/pcm" else encode_g711(out, self._kind)


def codec_for(audio_format: Mapping[str, Any]) -> AudioCodec:
    """The codec of a WebSocket session's ``audio.format``."""
    if (
        audio_format.get("type", "audio/pcm") == "audio/pcm"
        and int(audio_format.get("rate") or 24000) == 24000
    ):
        return PCM24
    return _Codec(audio_format)
