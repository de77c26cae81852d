"""The interfaces every speech backend implements. Heavy libraries are imported only in backends.

Audio crossing these interfaces is always mono signed 16-bit little-endian PCM (``bytes``), at the sample
rate each method names. The protocol's own rate is 24 kHz; VAD and ASR work at 16 kHz.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

__all__ = ["SpeechRecognizer", "SpeechSynthesizer", "Transcript", "VoiceActivityDetector"]


class VoiceActivityDetector(Protocol):
    """Speech probability for fixed-size windows of 16 kHz audio. One instance per stream (it has state)."""

    sample_rate: int  # 16000
    window_samples: int  # samples per call, e.g. 512 for Silero

    def probability(self, window: bytes) -> float:
        """Probability (0..1) that ``window`` (exactly ``window_samples`` PCM16 samples) is speech."""
        ...

    def reset(self) -> None:
        """Forget the stream state (call between unrelated streams)."""
        ...


@dataclass(frozen=True, slots=True)
class Transcript:
    """What a recognizer heard in one committed turn."""

    text: str
    language: str | None = None
    # Probability that the audio held no speech at all (Whisper's own estimate), when known.
    no_speech_prob: float | None = None


class SpeechRecognizer(Protocol):
    """Transcribes one whole turn at a time (Whisper pads every call to 30 s: per-chunk calls waste it)."""

    async def transcribe(
        self, pcm16: bytes, *, sample_rate: int = 16000, language: str | None = None
    ) -> Transcript:
        """Transcribe ``pcm16`` mono audio."""
        ...


class SpeechSynthesizer(Protocol):
    """Speaks text as PCM16 mono at 24 kHz, yielded in chunks as soon as they are ready."""

    sample_rate: int  # always 24000 at this interface

    def synthesize(self, text: str, *, voice: str | None = None, speed: float = 1.0) -> AsyncIterator[bytes]:
        """Yield 24 kHz PCM16 chunks for ``text`` (a sentence or clause at a time)."""
        ...
