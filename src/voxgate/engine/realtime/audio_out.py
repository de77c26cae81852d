"""Where a session's spoken audio goes: one object per transport, chosen once when the session starts.

* :class:`DeltaAudioOut` (WebSocket): audio becomes base64 ``response.output_audio.delta`` events and the
  transcript deltas go out as the text comes; there is no server-side output buffer.
* :class:`PlaybackAudioOut` (WebRTC with an audio track): audio is queued on the call's paced track
  through the :class:`~voxgate.engine.realtime.output_buffer.OutputAudioBuffer` (``output_audio_buffer.*``
  events, generation tags, the ledger of what was heard), and each sentence's transcript delta is sent
  when its audio starts playing (:class:`~voxgate.engine.realtime.captions.Captions`).
* :class:`SilentAudioOut` (WebRTC without a track the caller plays): nothing is spoken; the data
  channel never carries audio.

The session and the responses call the same methods whatever the transport, so neither has a branch on
it. Per spoken item a response gets an :class:`ItemVoice` from :meth:`AudioOut.voice`.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal

from voxgate.engine.ports import AudioPlayback
from voxgate.engine.realtime.captions import Captions
from voxgate.engine.realtime.conversation import PCM16_24K_BYTES_PER_MS, Conversation
from voxgate.engine.realtime.events import server_event
from voxgate.engine.realtime.output_buffer import OutputAudioBuffer, PlaybackCut
from voxgate.errors import InvalidRequest

__all__ = [
    "AudioOut",
    "DeltaAudioOut",
    "ItemVoice",
    "PlaybackAudioOut",
    "SilentAudioOut",
    "audio_out_for",
]

Emit = Callable[[dict[str, Any]], Awaitable[None]]
_DELTA_BYTES = 200 * PCM16_24K_BYTES_PER_MS  # audio deltas of at most 200 ms
# 2 s of PCM16 24 kHz is 128 KiB of base64: comfortably inside a 256 KiB data channel message.
MAX_CHANNEL_AUDIO_MS = 2000
_TRACK_FORMAT = {"type": "audio/pcm", "rate": 24000}


class ItemVoice:
    """How one output item is spoken; the base class sends transcript deltas as the text comes and
    audio deltas as it is made (the WebSocket way)."""

    def __init__(self, emit: Emit, ids: dict[str, Any]) -> None:
        self._emit = emit
        self._ids = ids  # response_id, item_id, output_index, content_index

    async def text(self, delta: str) -> None:
        """New transcript text was produced."""
        await self._emit(server_event("response.output_audio_transcript.delta", **self._ids, delta=delta))

    async def sentence(
        self, text: str, speech: AsyncIterator[bytes] | None, keep: Callable[[bytes], None]
    ) -> None:
        """Speak one sentence: ``speech`` yields its audio (None: nothing to say); ``keep`` records each
        chunk in the item."""
        if speech is None:
            return
        async for chunk in speech:
            keep(chunk)
            for start in range(0, len(chunk), _DELTA_BYTES):
                delta = base64.b64encode(chunk[start : start + _DELTA_BYTES]).decode("ascii")
                await self._emit(server_event("response.output_audio.delta", **self._ids, delta=delta))

    async def close(self, *, completed: bool) -> None:
        """The item ends: completed (everything said was sent) or cut short."""

    def transcript(self, text: str) -> str:
        """The item's final transcript, given all the text produced."""
        return text


class _PacedVoice(ItemVoice):
    """WebRTC: audio queued on the track; each sentence's caption released as its audio starts."""

    def __init__(self, emit: Emit, ids: dict[str, Any], buffer: OutputAudioBuffer) -> None:
        super().__init__(emit, ids)
        self._buffer = buffer
        self._captions = Captions(super().text)

    async def text(self, delta: str) -> None:
        return  # captions go out with the audio

    async def sentence(
        self, text: str, speech: AsyncIterator[bytes] | None, keep: Callable[[bytes], None]
    ) -> None:
        await self._captions.reserve()
        first: asyncio.Future[bool] | None = None
        if speech is not None:
            async for chunk in speech:
                keep(chunk)
                started = await self._buffer.play(
                    self._ids["response_id"],
                    self._ids["item_id"],
                    chunk,
                    caption=text if first is None else None,
                )
                if first is None:
                    first = started
                    self._captions.add(started, text)
        if first is None:  # nothing to hear (punctuation, spaces): the caption follows the previous one
            self._captions.add(None, text)

    async def close(self, *, completed: bool) -> None:
        # Completed: the last sentence has to start playing first; cut short: unsent captions never go.
        await (self._captions.drain() if completed else self._captions.aclose())

    def transcript(self, text: str) -> str:
        return self._captions.spoken


class AudioOut:
    """The WebSocket way, and the interface of every transport's audio output."""

    speaks = True
    # The format of input audio the session sees regardless of its config (None: as configured).
    fixed_input_format: dict[str, Any] | None = None
    # The longest item audio a single event may carry (None: no limit).
    max_event_audio_ms: int | None = None

    def attach(self, emit: Emit) -> None:
        """Give the output the session's event sender (called once, by the session)."""
        self._emit = emit

    @property
    def playing(self) -> bool:
        """True while a response's audio is still being played by the server."""
        return False

    def voice(self, ids: dict[str, Any], *, synthesizing: bool) -> ItemVoice:
        """The voice of one output item (``ids``: response_id, item_id, output_index, content_index)."""
        return ItemVoice(self._emit, ids)

    def drop_pending(self, response_id: str) -> None:
        """A response was cancelled or failed: what has not started playing never will."""

    async def finish(self, response_id: str, item_ids: list[str], conversation: Conversation) -> None:
        """After ``response.done`` of a response that played audio: wait for the playback to end."""

    def interrupt(self, also_stale: str | None = None) -> PlaybackCut:
        """Barge-in: drop unplayed audio now; what was cut (nothing when the client holds the audio)."""
        return PlaybackCut()

    async def clear(self) -> None:
        """``output_audio_buffer.clear``."""
        raise InvalidRequest(
            "output_audio_buffer.clear is only supported for WebRTC and SIP sessions with audio.",
            code="invalid_event",
        )

    def stop_item(self, item_id: str) -> str | None:
        """A client truncated ``item_id``: stop what of it still plays; the response id if something did."""
        return None


DeltaAudioOut = AudioOut


class SilentAudioOut(AudioOut):
    """WebRTC without a track the caller plays: nothing is spoken, and the channel carries no audio."""

    speaks = False
    fixed_input_format = _TRACK_FORMAT
    max_event_audio_ms = MAX_CHANNEL_AUDIO_MS


class PlaybackAudioOut(AudioOut):
    """WebRTC with the call's outgoing track: the server holds and paces the audio."""

    fixed_input_format = _TRACK_FORMAT
    max_event_audio_ms = MAX_CHANNEL_AUDIO_MS

    def __init__(self, playback: AudioPlayback) -> None:
        self._playback = playback
        self._buffer: OutputAudioBuffer | None = None

    def attach(self, emit: Emit) -> None:
        super().attach(emit)
        self._buffer = OutputAudioBuffer(self._playback, emit)

    @property
    def buffer(self) -> OutputAudioBuffer:
        """The ``output_audio_buffer`` of the session (after :meth:`attach`)."""
        assert self._buffer is not None, "attach() first"
        return self._buffer

    @property
    def playing(self) -> bool:
        return self.buffer.playing

    def voice(self, ids: dict[str, Any], *, synthesizing: bool) -> ItemVoice:
        if not synthesizing:  # no synthesizer: the transcript goes out as text, as over WebSocket
            return ItemVoice(self._emit, ids)
        return _PacedVoice(self._emit, ids, self.buffer)

    def drop_pending(self, response_id: str) -> None:
        self.buffer.drop_pending(response_id)

    async def finish(self, response_id: str, item_ids: list[str], conversation: Conversation) -> None:
        """Wait for the playback to drain (``stopped``), then keep in each item only the audio that was
        played: the caller heard no more, however the reply was cut (cancel, clear, barge-in)."""
        await self.buffer.finish(response_id)
        for item_id in item_ids:
            if item_id in conversation:
                played = self.buffer.played_ms(item_id)
                if played < conversation.audio_ms(item_id):
                    conversation.keep_audio(item_id, played)

    def interrupt(self, also_stale: str | None = None) -> PlaybackCut:
        return self.buffer.interrupt(also_stale)

    async def clear(self) -> None:
        await self.buffer.clear()

    def stop_item(self, item_id: str) -> str | None:
        return self.buffer.stop_item(item_id)


def audio_out_for(transport: Literal["websocket", "webrtc"], playback: AudioPlayback | None) -> AudioOut:
    """The audio output of a new session: the one place that looks at the transport."""
    if transport == "websocket":
        return DeltaAudioOut()
    return PlaybackAudioOut(playback) if playback is not None else SilentAudioOut()
