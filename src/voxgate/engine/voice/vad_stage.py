"""Second stage: 16 kHz speech audio → one :class:`VadFrame` per detector window (32 ms for Silero).

The detector backend (:class:`~voxgate.engine.speech.base.VoiceActivityDetector`, e.g. ``SileroVAD``)
keeps recurrent state, so each session gets its own instance. A call costs ~0.1 ms, cheap enough to run
inline on the event loop for every window.
"""

from __future__ import annotations

from collections.abc import Iterable

from voxgate.engine.speech.base import VoiceActivityDetector
from voxgate.engine.voice.frames import Frame, SpeechAudioFrame, VadFrame

__all__ = ["VadStage"]


class VadStage:
    """Cuts :class:`SpeechAudioFrame` audio into detector windows and scores each one."""

    def __init__(self, detector: VoiceActivityDetector) -> None:
        self._detector = detector
        self._window_bytes = detector.window_samples * 2
        self._window_ms = detector.window_samples * 1000 / detector.sample_rate
        self._pending = bytearray()
        self._windows = 0  # windows scored so far: window i covers [i, i + 1) * window_ms

    def process(self, frame: Frame) -> Iterable[Frame]:
        """Score every whole window now available; other frames pass through."""
        if not isinstance(frame, SpeechAudioFrame):
            return [frame]
        self._pending += frame.pcm
        out: list[Frame] = []
        while len(self._pending) >= self._window_bytes:
            window = bytes(self._pending[: self._window_bytes])
            del self._pending[: self._window_bytes]
            start = self._windows * self._window_ms
            self._windows += 1
            out.append(VadFrame(self._detector.probability(window), start, start + self._window_ms))
        return out
