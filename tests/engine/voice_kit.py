"""Helpers for the voice pipeline tests and the engine benchmark: espeak-ng speech with its true edges,
one shared Whisper, a microphone track that speaks on demand, and a WebRTC client that times every
audio frame it receives."""

from __future__ import annotations

import asyncio
import fractions
import functools
import math
import shutil
import subprocess
import tempfile
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from tests.engine.realtime_kit import RtcClient
from voxgate.engine import audio
from voxgate.engine.speech.asr import WhisperRecognizer

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Please schedule a meeting with the design team for next Tuesday afternoon.",
    "Turn off the lights in the kitchen before you go to bed.",
    "The weather today is sunny with a light breeze from the west.",
]
SILENT_RMS = 50.0  # PCM16 frames quieter than this count as silence


@functools.cache
def recognizer() -> WhisperRecognizer:
    """One Whisper tiny.en for the whole test session (loading takes about a second), set up as the
    engine runs it (a 10 s window)."""
    return WhisperRecognizer(cpu_threads=2, window_s=10.0)


@functools.cache
def _speech_folder() -> Path:
    return Path(tempfile.mkdtemp(prefix="voxgate-voice-"))


@functools.cache
def espeak(text: str, rate: int = 24000) -> bytes:
    """``text`` spoken by the espeak-ng CLI as mono PCM16 at ``rate``."""
    if shutil.which("espeak-ng") is None:
        raise RuntimeError("the voice tests need the espeak-ng CLI: apt-get install espeak-ng")
    path = _speech_folder() / f"{abs(hash(text))}.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), text], check=True, capture_output=True)
    with wave.open(str(path), "rb") as wav:
        pcm = wav.readframes(wav.getnframes())
        return audio.resample(pcm, wav.getframerate(), rate, wav.getnchannels())


def silence(ms: int, rate: int = 24000) -> bytes:
    return bytes(rate * ms // 1000 * 2)


def speech_edges(pcm: bytes, rate: int = 24000, level: float = 300.0) -> tuple[float, float]:
    """(first, last) millisecond of ``pcm`` where 10 ms frames are louder than ``level`` RMS."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    step = rate // 100
    frames = samples[: samples.size // step * step].reshape(-1, step)
    loud = np.flatnonzero(np.sqrt((frames**2).mean(axis=1)) > level)
    return float(loud[0] * 10), float((loud[-1] + 1) * 10)


def frame_rms(pcm: bytes) -> float:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    return float(np.sqrt((samples**2).mean())) if samples.size else 0.0


@dataclass
class Utterance:
    """One thing the mic said: when its first and last samples left, in the mic's stream and wall clocks."""

    stream_start_ms: float = math.nan
    stream_end_ms: float = math.nan
    started_at: float = math.nan
    ended_at: float = math.nan

    @property
    def done(self) -> bool:
        return not math.isnan(self.ended_at)


class SpeakingMic(MediaStreamTrack):
    """A fake microphone: 20 ms frames at 48 kHz, paced in real time, silent until told to :meth:`say`."""

    kind = "audio"
    RATE = 48000
    FRAME = 960

    def __init__(self) -> None:
        super().__init__()
        self._start: float | None = None
        self._pts = 0
        self._queue: list[tuple[bytes, Utterance]] = []
        self._pos = 0

    def say(self, pcm24k: bytes) -> Utterance:
        """Queue speech (24 kHz PCM16) after anything still queued; the result fills in as it plays."""
        utterance = Utterance()
        self._queue.append((audio.resample(pcm24k, 24000, self.RATE), utterance))
        return utterance

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._pts += self.FRAME
            await asyncio.sleep(max(0.0, self._start + self._pts / self.RATE - time.monotonic()))
        chunk = bytearray()
        now_ms = self._pts * 1000 / self.RATE
        while self._queue and len(chunk) < self.FRAME * 2:
            pcm, utterance = self._queue[0]
            if self._pos == 0:
                utterance.stream_start_ms = now_ms + len(chunk) / 2 * 1000 / self.RATE
                utterance.started_at = time.monotonic()
            piece = pcm[self._pos : self._pos + self.FRAME * 2 - len(chunk)]
            chunk += piece
            self._pos += len(piece)
            if self._pos >= len(pcm):
                utterance.stream_end_ms = now_ms + len(chunk) / 2 * 1000 / self.RATE
                utterance.ended_at = time.monotonic() + len(chunk) / 2 / self.RATE
                self._queue.pop(0)
                self._pos = 0
        frame = AudioFrame(format="s16", layout="mono", samples=self.FRAME)
        frame.planes[0].update(bytes(chunk).ljust(self.FRAME * 2, b"\0"))
        frame.sample_rate = self.RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, self.RATE)
        return frame


class TimedRtcClient(RtcClient):
    """An :class:`RtcClient` that also notes when each received audio frame arrived and how loud it was."""

    def __init__(self, mic: MediaStreamTrack | None = None) -> None:
        super().__init__(mic=mic)
        self.frames: list[tuple[float, float]] = []  # (arrival, RMS)

    async def _read(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                assert isinstance(frame, AudioFrame)
                left = frame.to_ndarray()[0, ::2].astype("<i2").tobytes()
                self.received_audio += left
                self.frames.append((time.monotonic(), frame_rms(left)))
        except MediaStreamError:
            return

    def first_sound_after(self, moment: float) -> float | None:
        """Arrival time of the first non-silent frame after ``moment``."""
        return next((t for t, level in self.frames if t > moment and level > SILENT_RMS), None)

    def last_sound(self) -> float | None:
        """Arrival time of the last non-silent frame."""
        return next((t for t, level in reversed(self.frames) if level > SILENT_RMS), None)
