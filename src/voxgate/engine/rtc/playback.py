"""The outgoing audio track of a call: queued 24 kHz PCM16 played in paced 20 ms frames, silence when idle.

aiortc pulls :meth:`PlaybackTrack.recv` and sends at the pace of the frames' timestamps, so the track
sleeps until each frame is due (as aiortc's own ``AudioStreamTrack`` does). When the call's codec is
Opus the track encodes its frames itself (:mod:`~voxgate.engine.rtc.opus_out`); for G.711 aiortc encodes
them. This is the TTS seam of the engine (:class:`voxgate.engine.ports.AudioPlayback`).

Every chunk carries a *tag* (the output item it belongs to). The track is the truth about what the
caller heard: it counts the samples of each tag as they leave in a frame (:meth:`played_ms`) and
resolves each chunk's future when its first sample goes out, so captions can follow the audio and a
barge-in can truncate an item to exactly what was played.
"""

from __future__ import annotations

import asyncio
import collections
import fractions
import time
from dataclasses import dataclass
from typing import Any

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, Packet

from voxgate.engine.rtc.opus_out import OpusOut

__all__ = ["PlaybackTrack"]

RATE = 24000
FRAME_SAMPLES = RATE // 50  # 20 ms
FRAME_BYTES = FRAME_SAMPLES * 2
BYTES_PER_MS = RATE * 2 // 1000
_TIME_BASE = fractions.Fraction(1, RATE)
_MAX_TAGS = 64  # played-sample counters kept for the most recent tags


@dataclass(eq=False, slots=True)
class _Chunk:
    tag: str
    data: bytes
    started: asyncio.Future[bool]
    pos: int = 0  # bytes already played


class PlaybackTrack(MediaStreamTrack):
    """An audio track that plays what was enqueued, then silence."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._chunks: collections.deque[_Chunk] = collections.deque()
        self._played: dict[str, int] = {}  # tag -> bytes sent in frames
        self._idle = asyncio.Event()
        self._idle.set()
        self._start: float | None = None
        self._pts = 0
        self._opus: OpusOut | None = None

    def encode_opus(self) -> None:
        """Hand aiortc Opus packets from now on instead of frames (when the call's codec is Opus)."""
        if self._opus is None:
            self._opus = OpusOut()

    def enqueue(self, pcm16_24k: bytes, tag: str = "") -> asyncio.Future[bool]:
        """Queue mono 24 kHz PCM16 after what is already queued.

        Returns a future that becomes True when the chunk's first sample is sent, or False if the chunk is
        dropped (:meth:`clear`, :meth:`drop`, :meth:`stop`) before that.
        """
        started: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        # An odd byte would shift every later sample; PCM16 producers never send one, so drop it.
        data = pcm16_24k[: len(pcm16_24k) - len(pcm16_24k) % 2]
        if not data or self.readyState != "live":
            started.set_result(bool(data) and self.readyState == "live")
            return started
        self._chunks.append(_Chunk(tag, data, started))
        self._idle.clear()
        return started

    def _discard(self, keep: collections.deque[_Chunk]) -> bool:
        dropped = False
        for chunk in self._chunks:
            if chunk in keep:
                continue
            dropped = True
            if not chunk.started.done():
                chunk.started.set_result(False)
        self._chunks = keep
        if not self._chunks:
            self._idle.set()
        return dropped

    def clear(self) -> bool:
        """Drop everything not yet played; True if something was dropped."""
        return self._discard(collections.deque())

    def drop(self, tags: set[str]) -> bool:
        """Drop the queued chunks of ``tags`` that have not started; True if something was dropped."""
        keep = collections.deque(c for c in self._chunks if c.tag not in tags or c.pos > 0)
        return self._discard(keep)

    def played_ms(self, tag: str) -> int:
        """Milliseconds of ``tag``'s audio sent so far (only the newest tags are remembered)."""
        return self._played.get(tag, 0) // BYTES_PER_MS

    def is_idle(self) -> bool:
        """True when nothing is queued."""
        return not self._chunks

    async def wait_idle(self) -> None:
        """Return once everything queued so far has been handed to the encoder (or dropped)."""
        await self._idle.wait()

    def stop(self) -> None:
        """End the track; waiters of :meth:`wait_idle` are released."""
        self.clear()
        super().stop()

    def _take(self) -> bytes:
        """The next frame's worth of queued audio, counting each tag's samples as they go out."""
        out = bytearray()
        while self._chunks and len(out) < FRAME_BYTES:
            chunk = self._chunks[0]
            if chunk.pos == 0 and not chunk.started.done():
                chunk.started.set_result(True)
            piece = chunk.data[chunk.pos : chunk.pos + FRAME_BYTES - len(out)]
            out += piece
            chunk.pos += len(piece)
            if chunk.tag not in self._played:
                if len(self._played) >= _MAX_TAGS:
                    del self._played[next(iter(self._played))]
                self._played[chunk.tag] = 0
            self._played[chunk.tag] += len(piece)
            if chunk.pos >= len(chunk.data):
                self._chunks.popleft()
        if not self._chunks:
            self._idle.set()
        return bytes(out)

    async def recv(self) -> AudioFrame | Packet[Any]:
        """The next 20 ms frame, due at its timestamp: queued audio or silence (encoded after
        :meth:`encode_opus`)."""
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
        pcm = self._take()
        if self._opus is not None:
            return self._opus.encode(pcm.ljust(FRAME_BYTES, b"\0") if pcm else None, self._pts)
        frame = AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        frame.planes[0].update(pcm.ljust(FRAME_BYTES, b"\0"))
        frame.sample_rate = RATE
        frame.pts = self._pts
        frame.time_base = _TIME_BASE
        return frame
