"""``output_audio_buffer.*`` of a WebRTC session: started, stopped once playback drains, cleared on demand.

Over WebRTC the server, not the client, holds the assistant's audio until it is played, so the protocol
reports that buffer (reference §4.4): ``started`` when a response's first audio is queued, ``stopped``
after ``response.done`` once everything has played, ``cleared`` when ``output_audio_buffer.clear``
drops the rest (barge-in). A newer response or a clear takes over, so no stale ``stopped`` follows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from voxgate.engine.events import server_event
from voxgate.engine.seams import AudioPlayback
from voxgate.errors import InvalidRequest

__all__ = ["OutputAudioBuffer"]

Emit = Callable[[dict[str, Any]], Awaitable[None]]


class OutputAudioBuffer:
    """Tracks which response owns the playback queue and emits the buffer events."""

    def __init__(self, playback: AudioPlayback, emit: Emit) -> None:
        self._playback = playback
        self._emit = emit
        self._playing: str | None = None  # the response whose audio is queued now
        self._last: str | None = None  # the latest response that played audio at all

    async def play(self, response_id: str, pcm16_24k: bytes) -> None:
        """Queue a response's audio; its first chunk emits ``output_audio_buffer.started``."""
        if self._playing != response_id:
            self._playing = self._last = response_id
            await self._emit(server_event("output_audio_buffer.started", response_id=response_id))
        self._playback.enqueue(pcm16_24k)

    async def finish(self, response_id: str) -> None:
        """After ``response.done``: wait for playback to drain, then emit ``stopped`` if still ours."""
        await self._playback.wait_idle()
        if self._playing == response_id:
            self._playing = None
            await self._emit(server_event("output_audio_buffer.stopped", response_id=response_id))

    async def clear(self) -> None:
        """``output_audio_buffer.clear``: drop unplayed audio and emit ``cleared``."""
        response_id = self._playing or self._last
        if response_id is None:
            raise InvalidRequest("There is no output audio to clear.", code="output_audio_buffer_empty")
        self._playing = None
        self._playback.clear()
        await self._emit(server_event("output_audio_buffer.cleared", response_id=response_id))
