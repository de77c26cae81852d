"""The client's audio: a microphone track fed from files or PCM, and the remote audio as 24 kHz PCM16.

:class:`Microphone` is the outgoing track: queued audio played in paced 20 ms frames at 48 kHz mono
(aiortc's Opus encoder takes it from there), silence when nothing is queued. :class:`RemoteAudio`
receives the other side's track (aiortc decodes to 48 kHz stereo) and hands it over as 24 kHz mono
PCM16, the protocol's format: as chunks to iterate over and, optionally, into a WAV file.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fractions
import time
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, AudioResampler

from voxgate.engine.audio import PROTOCOL_RATE, resample

__all__ = ["MIC_RATE", "Microphone", "RemoteAudio", "WavRecorder", "read_wav"]

MIC_RATE = 48000  # WebRTC's Opus rate: no resampling between the queue and the encoder
_FRAME_SAMPLES = MIC_RATE // 50  # 20 ms
_FRAME_BYTES = _FRAME_SAMPLES * 2
_TIME_BASE = fractions.Fraction(1, MIC_RATE)


def read_wav(path: str | Path) -> tuple[bytes, int, int]:
    """``(pcm16, sample_rate, channels)`` of an integer-PCM WAV file (8, 16, 24 or 32 bit)."""
    with wave.open(str(path), "rb") as wav:
        width, rate, channels = wav.getsampwidth(), wav.getframerate(), wav.getnchannels()
        raw = wav.readframes(wav.getnframes())
    if width == 2:
        return raw, rate, channels
    if width == 1:  # unsigned 8 bit
        samples = (np.frombuffer(raw, dtype=np.uint8).astype(np.int16) - 128) << 8
    elif width == 3:  # keep the top two bytes of each little-endian 24-bit sample
        samples = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3)[:, 1:].copy().view("<i2").ravel()
    elif width == 4:
        samples = (np.frombuffer(raw, dtype="<i4") >> 16).astype(np.int16)
    else:
        raise ValueError(f"{path}: unsupported sample width {width}")
    return samples.astype("<i2").tobytes(), rate, channels


class Microphone(MediaStreamTrack):
    """An audio track that plays what was queued, in real time, then silence.

    Queue audio with :meth:`play_wav`, :meth:`play_pcm` or :meth:`feed` (at any time, also while
    connected); :meth:`silence` drops what has not been sent yet; :meth:`wait_played` waits for the queue
    to drain. aiortc pulls :meth:`recv` and paces sending by the frames' timestamps.

    ``jitter_ms`` is for live capture fed in small pieces (a sound card's callback): after the queue ran
    dry, sending resumes only once that much audio is queued again, so capture jitter does not punch
    gaps into speech; more than four times that much queued is cut back, so latency stays bounded.
    Leave it at 0 for files and whole buffers.
    """

    kind = "audio"

    def __init__(self, *, jitter_ms: float = 0.0) -> None:
        super().__init__()
        self._jitter_bytes = 2 * round(jitter_ms * MIC_RATE / 1000)
        self._holding = self._jitter_bytes > 0  # waiting for the jitter buffer to fill
        self._queue = bytearray()
        self._drained = asyncio.Event()
        self._drained.set()
        self._start: float | None = None
        self._pts = 0
        self.sent_ms = 0.0  # audio (not silence) handed to the encoder so far
        self.underruns = 0  # live capture only: times the queue ran dry mid-stream
        self.dropped_ms = 0.0  # live capture only: audio dropped to keep latency bounded

    @property
    def pending_ms(self) -> float:
        """How much queued audio is still to be sent."""
        return len(self._queue) / 2 / MIC_RATE * 1000

    def feed(self, pcm16_48k: bytes) -> None:
        """Queue mono 48 kHz PCM16 as is (e.g. a live capture opened at 48 kHz)."""
        if pcm16_48k:
            self._queue += pcm16_48k[: len(pcm16_48k) - len(pcm16_48k) % 2]
            self._drained.clear()

    def play_pcm(self, pcm16: bytes, sample_rate: int = PROTOCOL_RATE, channels: int = 1) -> float:
        """Queue interleaved PCM16 of any rate and channel count; returns its duration in seconds."""
        mono = resample(pcm16, sample_rate, MIC_RATE, channels)
        self.feed(mono)
        return len(mono) / 2 / MIC_RATE

    def play_wav(self, path: str | Path) -> float:
        """Queue a WAV file (see :func:`read_wav`); returns its duration in seconds."""
        pcm, rate, channels = read_wav(path)
        return self.play_pcm(pcm, rate, channels)

    def play_silence(self, seconds: float) -> None:
        """Queue ``seconds`` of silence after what is queued (unlike idling, :meth:`wait_played` waits)."""
        self.feed(bytes(2 * round(seconds * MIC_RATE)))

    def silence(self) -> None:
        """Drop everything not yet sent: the microphone goes quiet at once."""
        self._queue.clear()
        self._holding = self._jitter_bytes > 0
        self._drained.set()

    async def wait_played(self) -> None:
        """Return once everything queued so far has been handed to the encoder."""
        await self._drained.wait()

    def stop(self) -> None:
        """End the track; :meth:`wait_played` waiters are released."""
        self.silence()
        super().stop()

    def _next_chunk(self, on_time: bool) -> bytes:
        """Up to one frame of queued audio (none while the jitter buffer refills).

        ``on_time`` is False while catching up after a stall of the event loop: the capture callbacks
        that piled up meanwhile are sent in the catch-up burst, not dropped.
        """
        if self._jitter_bytes:
            if on_time and len(self._queue) > 4 * self._jitter_bytes:
                # The capture clock runs faster than ours: drop the oldest audio, not latency forever.
                excess = len(self._queue) - self._jitter_bytes
                del self._queue[:excess]
                self.dropped_ms += excess / 2 / MIC_RATE * 1000
            if self._holding:
                if len(self._queue) < self._jitter_bytes:
                    return b""
                self._holding = False
        chunk = bytes(self._queue[:_FRAME_BYTES])
        del self._queue[:_FRAME_BYTES]
        if self._jitter_bytes and len(chunk) < _FRAME_BYTES:
            self._holding = True  # ran dry: wait until the buffer has refilled
            self.underruns += 1
        return chunk

    async def recv(self) -> AudioFrame:
        """The next 20 ms frame at its due time: queued audio or silence."""
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        on_time = True
        if self._start is None:
            self._start = now
        else:
            self._pts += _FRAME_SAMPLES
            delay = self._start + self._pts / MIC_RATE - now
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.5:
                # Far behind (a stalled loop): restart the clock rather than burst to catch up.
                self._start = now - self._pts / MIC_RATE
            else:
                on_time = delay > -0.02
        chunk = self._next_chunk(on_time)
        self.sent_ms += len(chunk) / 2 / MIC_RATE * 1000
        if not self._queue:
            self._drained.set()
        frame = AudioFrame(format="s16", layout="mono", samples=_FRAME_SAMPLES)
        frame.planes[0].update(chunk.ljust(_FRAME_BYTES, b"\0"))
        frame.sample_rate = MIC_RATE
        frame.pts = self._pts
        frame.time_base = _TIME_BASE
        return frame


class WavRecorder:
    """Writes 24 kHz mono PCM16 to a WAV file as it arrives."""

    def __init__(self, path: str | Path, sample_rate: int = PROTOCOL_RATE) -> None:
        self.path = Path(path)
        self._wav = wave.open(str(self.path), "wb")  # noqa: SIM115 - closed by close()
        self._wav.setnchannels(1)
        self._wav.setsampwidth(2)
        self._wav.setframerate(sample_rate)

    def write(self, pcm16: bytes) -> None:
        self._wav.writeframes(pcm16)

    def close(self) -> None:
        """Finish the file (idempotent)."""
        with contextlib.suppress(Exception):
            self._wav.close()


class RemoteAudio:
    """What the other side plays, as 24 kHz mono PCM16 chunks (one per 20 ms frame received).

    Iterate with ``async for chunk in remote_audio`` (ends when the call ends) or ``await read()``.
    At most ``max_buffered_s`` of unread audio is kept; older chunks are dropped. :meth:`record`
    additionally writes everything received from then on to a WAV file.
    """

    def __init__(self, max_buffered_s: float = 60.0) -> None:
        self._chunks: collections.deque[bytes] = collections.deque(maxlen=max(1, int(max_buffered_s * 50)))
        self._ready = asyncio.Event()
        self._ended = False
        self._recorder: WavRecorder | None = None
        self.received_ms = 0.0
        self.frames = 0

    @property
    def ended(self) -> bool:
        """True once the remote track has ended (the call is over)."""
        return self._ended

    def record(self, path: str | Path) -> WavRecorder:
        """Also write the audio received from now on to ``path`` (24 kHz mono WAV)."""
        self.stop_recording()
        self._recorder = WavRecorder(path)
        return self._recorder

    def stop_recording(self) -> None:
        """Finish the WAV file being recorded, if any."""
        if self._recorder is not None:
            self._recorder.close()
            self._recorder = None

    def clear(self) -> None:
        """Drop the unread chunks."""
        self._chunks.clear()
        self._ready.clear()

    def take(self) -> bytes:
        """All unread audio at once, without waiting (``b""`` if none)."""
        data = b"".join(self._chunks)
        self.clear()
        return data

    async def read(self) -> bytes:
        """The next chunk; ``b""`` once the call has ended and everything was read."""
        while not self._chunks:
            if self._ended:
                return b""
            self._ready.clear()
            await self._ready.wait()
        return self._chunks.popleft()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while chunk := await self.read():
            yield chunk

    def _push(self, pcm16_24k: bytes) -> None:
        self.frames += 1
        self.received_ms += len(pcm16_24k) / 2 / PROTOCOL_RATE * 1000
        self._chunks.append(pcm16_24k)
        if self._recorder is not None:
            self._recorder.write(pcm16_24k)
        self._ready.set()

    def close(self) -> None:
        """Mark the audio as ended (the client does this when the call closes) and finish recording."""
        self._ended = True
        self._ready.set()
        self.stop_recording()

    async def consume(self, track: MediaStreamTrack) -> None:
        """Read ``track`` until it ends (run by the client as a task it owns)."""
        resampler = AudioResampler(format="s16", layout="mono", rate=PROTOCOL_RATE)
        try:
            while True:
                try:
                    frame = await track.recv()
                except MediaStreamError:
                    return
                if not isinstance(frame, AudioFrame):
                    continue
                for out in resampler.resample(frame):
                    self._push(bytes(out.planes[0])[: out.samples * 2])
        finally:
            self.close()
