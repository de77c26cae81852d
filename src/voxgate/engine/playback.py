"""The outgoing audio track of a call: queued 24 kHz PCM16 played in paced 20 ms frames, silence when idle.

aiortc pulls :meth:`PlaybackTrack.recv` and sends at the pace of the frames' timestamps, so the track
sleeps until each frame is due (as aiortc's own ``AudioStreamTrack`` does). aiortc's Opus encoder
resamples the 24 kHz mono frames to 48 kHz stereo itself. This is the TTS seam of the engine
(:class:`voxgate.engine.seams.AudioPlayback`).
"""

from __future__ import annotations

import asyncio
import fractions
import time

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

__all__ = ["PlaybackTrack"]

RATE = 24000
FRAME_SAMPLES = RATE // 50  # 20 ms
FRAME_BYTES = FRAME_SAMPLES * 2
_TIME_BASE = fractions.Fraction(1, RATE)


class PlaybackTrack(MediaStreamTrack):
    """An audio track that plays what was enqueued, then silence."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._queue = bytearray()
        self._idle = asyncio.Event()
        self._idle.set()
        self._start: float | None = None
        self._pts = 0

    def enqueue(self, pcm16_24k: bytes) -> None:
        """Queue mono 24 kHz PCM16 after what is already queued."""
        if not pcm16_24k:
            return
        # An odd byte would shift every later sample; PCM16 producers never send one, so drop it.
        self._queue += pcm16_24k[: len(pcm16_24k) - len(pcm16_24k) % 2]
        self._idle.clear()

    def clear(self) -> bool:
        """Drop everything not yet played; True if something was dropped."""
        dropped = bool(self._queue)
        self._queue.clear()
        self._idle.set()
        return dropped

    def is_idle(self) -> bool:
        """True when nothing is queued."""
        return not self._queue

    async def wait_idle(self) -> None:
        """Return once everything queued so far has been handed to the encoder."""
        await self._idle.wait()

    def stop(self) -> None:
        """End the track; waiters of :meth:`wait_idle` are released."""
        self._queue.clear()
        self._idle.set()
        super().stop()

    async def recv(self) -> AudioFrame:
        """The next 20 ms frame, due at its timestamp: queued audio or silence."""
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        else:
            self._pts += FRAME_SAMPLES
            delay = self._start + self._pts / RATE - now
            if delay > 0:
                await asyncio.sleep(delay)
        chunk = bytes(self._queue[:FRAME_BYTES])
        del self._queue[:FRAME_BYTES]
        if not self._queue:
            self._idle.set()
        frame = AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        frame.planes[0].update(chunk.ljust(FRAME_BYTES, b"\0"))
        frame.sample_rate = RATE
        frame.pts = self._pts
        frame.time_base = _TIME_BASE
        return frame
