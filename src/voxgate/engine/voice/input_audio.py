"""First stage: user audio in the session's input format → 16 kHz mono PCM16 with stream times.

The protocol's input formats are PCM16 at 24 kHz and G.711 µ-law/A-law at 8 kHz (reference §7); WebRTC
audio always arrives as PCM16 24 kHz. VAD and ASR want 16 kHz. The stage also keeps the stream clock:
:attr:`InputResampler.position_ms` is the length of all input audio seen so far, which is the session's
time base for ``audio_start_ms``/``audio_end_ms`` and for committing spans of the input buffer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from voxgate.engine.audio import SPEECH_RATE, StreamResampler, int16_to_pcm16
from voxgate.engine.voice.frames import Frame, InputAudioFrame, SpeechAudioFrame

__all__ = ["InputResampler", "decode_input"]


def _ulaw_table() -> np.ndarray:
    code = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (code >> 4) & 0x07
    magnitude = ((((code & 0x0F) << 3) + 0x84) << exponent) - 0x84
    return np.where(code & 0x80, -magnitude, magnitude).astype(np.int16)


def _alaw_table() -> np.ndarray:
    code = np.arange(256, dtype=np.int32) ^ 0x55
    exponent = (code >> 4) & 0x07
    mantissa = code & 0x0F
    magnitude = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << (exponent - 1))
    return np.where(code & 0x80, magnitude, -magnitude).astype(np.int16)


_G711 = {"audio/pcmu": _ulaw_table(), "audio/pcma": _alaw_table()}


def decode_input(data: bytes, audio_format: Mapping[str, object]) -> tuple[bytes, int]:
    """``(pcm16, sample_rate)`` of input audio in a GA format (G.711 is decoded, PCM passes through)."""
    table = _G711.get(str(audio_format.get("type", "audio/pcm")))
    if table is None:
        return data[: len(data) - len(data) % 2], int(str(audio_format.get("rate") or 24000))
    return int16_to_pcm16(table[np.frombuffer(data, dtype=np.uint8)]), 8000


class InputResampler:
    """:class:`InputAudioFrame` → :class:`SpeechAudioFrame` at 16 kHz, keeping the stream clock."""

    def __init__(self, rate: int = SPEECH_RATE) -> None:
        self.rate = rate
        self.position_ms = 0.0  # input stream time at the end of the last chunk
        self._resampler: StreamResampler | None = None
        self._samples_out = 0

    def process(self, frame: Frame) -> Iterable[Frame]:
        """Resample one input chunk; other frames pass through."""
        if not isinstance(frame, InputAudioFrame):
            return [frame]
        pcm, rate = decode_input(frame.pcm, frame.audio_format)
        self.position_ms += len(pcm) * 500 / rate  # PCM16: 2 bytes a sample
        if self._resampler is None or self._resampler.from_rate != rate:
            # A new format mid-session (session.update): start a new filter; the clock carries on.
            self._resampler = StreamResampler(rate, self.rate)
        out = self._resampler.process(pcm) if rate != self.rate else pcm
        if not out:
            return []
        start_ms = self._samples_out * 1000 / self.rate
        self._samples_out += len(out) // 2
        return [SpeechAudioFrame(out, start_ms)]
