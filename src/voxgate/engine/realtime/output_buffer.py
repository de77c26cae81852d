"""``output_audio_buffer.*`` of a WebRTC session, and the ledger of what the caller actually heard.

Over WebRTC the server, not the client, holds the assistant's audio until it is played, so the protocol
reports that buffer (reference §4.4): ``started`` when a response's first audio is queued, ``stopped``
after ``response.done`` once everything has played, ``cleared`` when ``output_audio_buffer.clear`` or a
barge-in drops the rest. A newer response or a clear takes over, so no stale ``stopped`` follows.

Generation tagging: every chunk is queued under its response and item. Clearing marks the responses
whose audio was dropped as *stale*, so a chunk that a still-running response produces a moment later is
refused instead of playing (no race between the barge-in and the producer). The playback counts what
it sent of each item; with the sentence marks recorded here that gives the exact cut of a barge-in:
milliseconds played and the words heard (:class:`PlaybackCut`).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from voxgate.engine.ports import AudioPlayback
from voxgate.engine.realtime.events import server_event
from voxgate.errors import InvalidRequest

__all__ = ["OutputAudioBuffer", "PlaybackCut", "heard_transcript"]

Emit = Callable[[dict[str, Any]], Awaitable[None]]
_BYTES_PER_MS = 48  # PCM16 24 kHz
_STALE_KEPT = 32


@dataclass(frozen=True, slots=True)
class PlaybackCut:
    """What a barge-in interrupted: the response whose audio was playing and how much of its item was
    heard (``audio_end_ms`` and the transcript up to there). ``response_id`` is None when nothing played."""

    response_id: str | None = None
    item_id: str | None = None
    played_ms: int = 0
    transcript: str = ""


@dataclass
class _ItemLedger:
    response_id: str
    queued_ms: float = 0.0
    marks: list[tuple[float, str]] = field(default_factory=list)  # (start ms in the item, caption text)


def heard_transcript(marks: list[tuple[float, str]], total_ms: float, played_ms: float) -> str:
    """The part of an item's transcript heard after ``played_ms`` of its audio.

    ``marks`` are the captions in order with the item offset where each one's audio starts. Captions
    that played whole are kept; the one cut short keeps its words in proportion to the part played.
    """
    heard = ""
    for index, (start, text) in enumerate(marks):
        if played_ms <= start:
            break
        end = marks[index + 1][0] if index + 1 < len(marks) else total_ms
        if played_ms >= end:
            heard += text
            continue
        words = text.split()
        count = round(len(words) * (played_ms - start) / max(end - start, 1.0))
        if count:
            heard += text[: len(text) - len(text.lstrip())] + " ".join(words[:count])
        break
    return heard


class OutputAudioBuffer:
    """Tracks which response owns the playback queue, emits the buffer events and keeps the ledger."""

    def __init__(self, playback: AudioPlayback, emit: Emit) -> None:
        self._playback = playback
        self._emit = emit
        self._playing: str | None = None  # the response whose audio is queued now
        self._last: str | None = None  # the latest response that played audio at all
        self._stale: collections.deque[str] = collections.deque(maxlen=_STALE_KEPT)
        self._items: dict[str, _ItemLedger] = {}  # items of the latest response, in play order

    @property
    def playing(self) -> bool:
        """True from a response's first queued chunk until it stopped or was cleared."""
        return self._playing is not None

    async def play(
        self, response_id: str, item_id: str, pcm16_24k: bytes, caption: str | None = None
    ) -> asyncio.Future[bool]:
        """Queue a chunk of ``item_id``; the first chunk of a response emits ``output_audio_buffer.started``.

        ``caption`` marks the text whose audio begins with this chunk. Returns the playback's future
        (True once the chunk starts playing, False if it is dropped); chunks of stale responses are
        refused (False at once).
        """
        if response_id in self._stale:
            refused: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
            refused.set_result(False)
            return refused
        if self._playing != response_id:
            self._playing = self._last = response_id
            for old in [i for i, ledger in self._items.items() if ledger.response_id != response_id]:
                del self._items[old]
            await self._emit(server_event("output_audio_buffer.started", response_id=response_id))
        ledger = self._items.setdefault(item_id, _ItemLedger(response_id))
        if caption is not None:
            ledger.marks.append((ledger.queued_ms, caption))
        ledger.queued_ms += len(pcm16_24k) / _BYTES_PER_MS
        return self._playback.enqueue(pcm16_24k, item_id)

    def drop_pending(self, response_id: str) -> None:
        """A cancelled response: drop its chunks that have not started playing (what plays, finishes)."""
        self._playback.drop({i for i, ledger in self._items.items() if ledger.response_id == response_id})

    async def finish(self, response_id: str) -> None:
        """After ``response.done``: wait for playback to drain, then emit ``stopped`` if still ours."""
        await self._playback.wait_idle()
        if self._playing == response_id:
            self._playing = None
            await self._emit(server_event("output_audio_buffer.stopped", response_id=response_id))

    def interrupt(self, also_stale: str | None = None) -> PlaybackCut:
        """Barge-in, synchronously: drop all unplayed audio now and refuse later chunks of the playing
        response (and of ``also_stale``, a response in flight that has not played yet)."""
        playing = self._playing
        for response_id in (playing, also_stale):
            if response_id is not None and response_id not in self._stale:
                self._stale.append(response_id)
        self._playing = None
        self._playback.clear()
        if playing is None:
            return PlaybackCut()
        item_id, ledger = next(
            ((i, led) for i, led in reversed(self._items.items()) if led.response_id == playing),
            (None, None),
        )
        if item_id is None or ledger is None:
            return PlaybackCut(response_id=playing)
        played = min(self._playback.played_ms(item_id), int(ledger.queued_ms))
        return PlaybackCut(playing, item_id, played, heard_transcript(ledger.marks, ledger.queued_ms, played))

    def played_ms(self, item_id: str) -> int:
        """Milliseconds of ``item_id``'s audio the caller has been sent."""
        return self._playback.played_ms(item_id)

    def stop_item(self, item_id: str) -> str | None:
        """A client truncated ``item_id``: if its response's audio is still queued, drop it all now (nothing
        past the cut may play) and return that response's id; None if it was not playing."""
        ledger = self._items.get(item_id)
        if ledger is None or self._playing != ledger.response_id:
            return None
        self.interrupt()
        return ledger.response_id

    async def clear(self) -> None:
        """``output_audio_buffer.clear``: drop unplayed audio and emit ``cleared``."""
        response_id = self._playing or self._last
        if response_id is None:
            raise InvalidRequest("There is no output audio to clear.", code="output_audio_buffer_empty")
        self.interrupt()
        await self._emit(server_event("output_audio_buffer.cleared", response_id=response_id))
