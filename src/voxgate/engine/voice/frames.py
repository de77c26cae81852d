"""The frame catalogue of the voice pipeline: the few things that flow between its processors.

Audio frames carry their position in the session's input stream (milliseconds since the session's first
chunk of user audio), which is also the time base of the protocol's ``audio_start_ms``/``audio_end_ms``.
Control frames are decisions of the turn detector; the observer turns them into session actions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "Frame",
    "IdleTimeoutFrame",
    "InputAudioFrame",
    "SpeechAudioFrame",
    "SpeechStartedFrame",
    "SpeechStoppedFrame",
    "VadFrame",
]


@dataclass(frozen=True, slots=True)
class Frame:
    """Base of every frame."""


@dataclass(frozen=True, slots=True)
class InputAudioFrame(Frame):
    """A chunk of user audio as the session received it (in its input format)."""

    pcm: bytes
    audio_format: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class SpeechAudioFrame(Frame):
    """User audio as 16 kHz mono PCM16 (what VAD and ASR use), starting at ``start_ms``."""

    pcm: bytes
    start_ms: float


@dataclass(frozen=True, slots=True)
class VadFrame(Frame):
    """One VAD window: the probability that ``[start_ms, end_ms)`` holds speech."""

    probability: float
    start_ms: float
    end_ms: float


@dataclass(frozen=True, slots=True)
class SpeechStartedFrame(Frame):
    """The user started speaking at ``audio_start_ms``; ``at_ms`` is the stream position of the decision."""

    audio_start_ms: int
    at_ms: float


@dataclass(frozen=True, slots=True)
class SpeechStoppedFrame(Frame):
    """The user's turn ended: speech from ``audio_start_ms`` to ``audio_end_ms``, decided at ``at_ms``
    (``audio_end_ms`` plus the end-of-turn silence)."""

    audio_start_ms: int
    audio_end_ms: int
    at_ms: float


@dataclass(frozen=True, slots=True)
class IdleTimeoutFrame(Frame):
    """The user stayed silent from ``audio_start_ms`` (when the assistant finished) to ``audio_end_ms``."""

    audio_start_ms: int
    audio_end_ms: int
