"""Where a Live session's reply audio goes: one object per transport, chosen when the session starts.

* :class:`StreamOutput` (primary WebSocket): one continuous output track for the life of the session,
  silent between replies (reference §2). It moves in step with the timeline: each time input audio
  advances it by 100 ms, 100 ms of output goes out as ``session.output_audio.delta``, reply audio if any
  is queued, silence otherwise.
* :class:`PlaybackOutput` (WebRTC): reply audio is queued on the call's paced RTP track.
* :class:`SilentOutput` (WebRTC whose caller receives no audio): only the transcript.

Each piece of a reply is reported when its audio starts: the output transcript delta and the sideband's
reflected copy (PCM16 24 kHz, with ``start_ms``/``end_ms`` on the timeline), through ``Heard``-style
callbacks, so the session has no branch on the transport.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from voxgate.engine.live.events import audio_delta
from voxgate.engine.ports import AudioPlayback

__all__ = ["FRAME_MS", "LiveOutput", "PlaybackOutput", "SilentOutput", "StreamOutput"]

FRAME_MS = 100
_PER_MS = 48  # PCM16 24 kHz mono
# A piece of reply audio started: (its 24 kHz PCM, its text, start_ms, end_ms) on the timeline.
Started = Callable[[bytes, str, int, int], None]


class LiveOutput(Protocol):
    """What the session and its replies call, whatever the transport."""

    def speak(self, pcm16_24k: bytes, text: str) -> None:
        """Queue a piece of the reply (its audio and the words it says)."""
        ...

    def clear(self) -> bool:
        """Drop everything not played yet (barge-in); True if something was dropped."""
        ...

    def advance(self, ms: float, now_ms: float) -> None:
        """The timeline moved by ``ms`` to ``now_ms``."""
        ...

    @property
    def busy(self) -> bool:
        """True while reply audio is queued or playing."""
        ...

    async def wait_idle(self) -> None:
        """Return once everything queued so far has gone out."""
        ...


class StreamOutput:
    """The WebSocket's continuous output track; ``send`` puts an event on the primary channel."""

    def __init__(
        self, encode: Callable[[bytes], bytes], send: Callable[[dict[str, Any]], None], started: Started
    ) -> None:
        self._encode = encode
        self._send = send
        self._started = started
        self._queue: deque[tuple[bytearray, str, bool]] = deque()  # audio left, text, announced
        self._due = 0.0  # timeline ms not covered by output yet
        self._idle = asyncio.Event()
        self._idle.set()

    def speak(self, pcm16_24k: bytes, text: str) -> None:
        self._queue.append((bytearray(pcm16_24k), text, False))
        self._idle.clear()

    def clear(self) -> bool:
        dropped = bool(self._queue)
        self._queue.clear()
        self._idle.set()
        return dropped

    @property
    def busy(self) -> bool:
        return bool(self._queue)

    async def wait_idle(self) -> None:
        await self._idle.wait()

    def advance(self, ms: float, now_ms: float) -> None:
        self._due += ms
        while self._due >= FRAME_MS:
            position = now_ms - self._due  # where this frame starts on the timeline
            self._due -= FRAME_MS
            frame = self._take(FRAME_MS * _PER_MS, position)
            if len(frame) < FRAME_MS * _PER_MS:
                frame += bytes(FRAME_MS * _PER_MS - len(frame))
            self._send(audio_delta(self._encode(bytes(frame))))

    def _take(self, size: int, position: float) -> bytearray:
        out = bytearray()
        while self._queue and len(out) < size:
            audio, text, announced = self._queue[0]
            if not announced:
                start = round(position + len(out) / _PER_MS)
                self._started(bytes(audio), text, start, start + len(audio) // _PER_MS)
                self._queue[0] = (audio, text, True)
            piece = audio[: size - len(out)]
            del audio[: len(piece)]
            out += piece
            if not audio:
                self._queue.popleft()
        if not self._queue:
            self._idle.set()
        return out


class PlaybackOutput:
    """The call's outgoing track; ``now`` reads the timeline when a piece starts playing."""

    def __init__(self, playback: AudioPlayback, now: Callable[[], int], started: Started) -> None:
        self._playback = playback
        self._now = now
        self._started = started

    def speak(self, pcm16_24k: bytes, text: str) -> None:
        if not pcm16_24k:
            now = self._now()
            self._started(b"", text, now, now)
            return
        playing = self._playback.enqueue(pcm16_24k)

        def begun(future: asyncio.Future[bool]) -> None:
            if future.cancelled() or future.exception() is not None or not future.result():
                return  # dropped unplayed (barge-in): nothing was said
            start = self._now()
            self._started(pcm16_24k, text, start, start + len(pcm16_24k) // _PER_MS)

        playing.add_done_callback(begun)

    def clear(self) -> bool:
        return self._playback.clear()

    def advance(self, ms: float, now_ms: float) -> None:
        """The track is paced by the call itself."""

    @property
    def busy(self) -> bool:
        return not self._playback.is_idle()

    async def wait_idle(self) -> None:
        await self._playback.wait_idle()


class SilentOutput:
    """No audio goes anywhere; the words are reported at once."""

    def __init__(self, now: Callable[[], int], started: Started) -> None:
        self._now = now
        self._started = started

    def speak(self, pcm16_24k: bytes, text: str) -> None:
        now = self._now()
        self._started(b"", text, now, now)

    def clear(self) -> bool:
        return False

    def advance(self, ms: float, now_ms: float) -> None:
        """Nothing plays, so nothing moves."""

    @property
    def busy(self) -> bool:
        return False

    async def wait_idle(self) -> None:
        return
