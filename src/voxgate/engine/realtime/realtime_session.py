"""One realtime session: the protocol core between a transport and the conversation.

The session is transport-agnostic: a WebSocket handler or a WebRTC data channel feeds it client messages
(:meth:`RealtimeSession.handle_message`) and registers *sinks* that receive every server event as JSON
text. A sideband WebSocket (``?call_id=``) is just one more sink on a call's session, so it sees exactly
what the data channel sees. The session owns its response tasks and its expiry timer and cancels them in
:meth:`aclose`; the transport owns the session and closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from openai.types.realtime import (
    ConversationItemCreateEvent,
    ConversationItemDeleteEvent,
    ConversationItemRetrieveEvent,
    ConversationItemTruncateEvent,
    InputAudioBufferAppendEvent,
    InputAudioBufferClearEvent,
    InputAudioBufferCommitEvent,
    OutputAudioBufferClearEvent,
    ResponseCancelEvent,
    ResponseCreateEvent,
    SessionUpdateEvent,
)

from voxgate.engine.config import EngineConfig
from voxgate.engine.ids import new_id
from voxgate.engine.ports import (
    AudioPlayback,
    FinishInterruption,
    Heard,
    InputObserverFactory,
    Responder,
    ResponderRequest,
)
from voxgate.engine.realtime.audio_out import audio_out_for
from voxgate.engine.realtime.client_events import ClientEvent, ClientEventError, parse_client_event
from voxgate.engine.realtime.conversation import Conversation
from voxgate.engine.realtime.events import (
    error_event,
    item_event,
    public_item,
    server_event,
    session_event,
    session_expired,
)
from voxgate.engine.realtime.input_buffer import InputAudioBuffer, bytes_per_ms
from voxgate.engine.realtime.output_buffer import PlaybackCut
from voxgate.engine.realtime.response import ResponseRun
from voxgate.engine.realtime.response_plan import plan_response
from voxgate.engine.realtime.session_config import apply_update, echo_session, parse_session_request
from voxgate.engine.realtime.settings import SessionSettings
from voxgate.engine.realtime.transcription import transcription_events
from voxgate.engine.realtime.transcripts import TranscriptBook
from voxgate.engine.realtime.usage import RateWindow
from voxgate.engine.speech.base import SpeechSynthesizer
from voxgate.engine.tasks import TaskOwner
from voxgate.engine.turns import TurnParams
from voxgate.errors import InvalidRequest, VoxgateError

__all__ = ["Interruption", "RealtimeSession", "Sink"]

log = logging.getLogger(__name__)
Sink = Callable[[str], Awaitable[None]]


@dataclasses.dataclass(frozen=True, slots=True)
class Interruption:
    """A barge-in under way: what playback was cut, and the response whose cancellation is held."""

    cut: PlaybackCut
    response: ResponseRun | None


def internal_error() -> VoxgateError:
    """The ``server_error`` a client sees when the engine fails on its own (OpenAI's wording)."""
    return VoxgateError(
        "The server had an error while processing your request. Sorry about that!", code="server_error"
    )


class RealtimeSession:
    """Protocol state of one session; see the module docstring for who owns what."""

    def __init__(
        self,
        *,
        config: EngineConfig,
        session: dict[str, Any],
        transport: Literal["websocket", "webrtc"],
        responder: Responder,
        synthesizer: SpeechSynthesizer | None = None,
        playback: AudioPlayback | None = None,
        observer_factory: InputObserverFactory[RealtimeSession] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.id = new_id("sess")
        # Where spoken audio goes, chosen once here: the session never looks at the transport again.
        self._out = audio_out_for(transport, playback)
        self._out.attach(self.emit)
        self.config = session  # also builds the settings read on every chunk (see the setter)
        self.expires_at = int(clock() + config.session_max_duration_s)
        self.conversation = Conversation()
        # What was heard in each user audio item (filled by the input observer's recognizer).
        self.transcripts = TranscriptBook()
        # Set when the session should end (expired or closed); the transport waits on it.
        self.ended = asyncio.Event()
        self._max_duration = config.session_max_duration_s
        self._deadline = time.monotonic() + config.session_max_duration_s
        self._responder = responder
        self._synth = synthesizer
        self._sinks: list[Sink] = []
        self._send_lock = asyncio.Lock()
        self._buffer = InputAudioBuffer(
            max_append_bytes=config.max_append_bytes, max_bytes=config.max_input_buffer_bytes
        )
        self._rates = RateWindow(config.rate_limit_tokens_per_minute)
        self._runs: dict[str, ResponseRun] = {}
        self._active: ResponseRun | None = None  # the in-flight response on the default conversation
        # Replies on the default conversation that are over, their audio played (idle timeouts count
        # the user's silence from the last one).
        self.replies_finished = 0
        self._voice_locked = False
        self._tasks = TaskOwner(f"session {self.id}", on_failure=self._report_failure)
        self._started = False
        self._closed = False
        self._observer = observer_factory(self) if observer_factory is not None else None

    # ---- sinks and lifecycle -------------------------------------------------------------------------

    def add_sink(self, sink: Sink) -> None:
        """Send every later server event to ``sink`` too."""
        self._sinks.append(sink)

    def remove_sink(self, sink: Sink) -> None:
        """Stop sending to ``sink`` (no error if it is gone already)."""
        with contextlib.suppress(ValueError):
            self._sinks.remove(sink)

    async def emit(self, event: dict[str, Any]) -> None:
        """Send one server event to every sink, in order; a failing sink is dropped, never fatal."""
        text = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
        async with self._send_lock:
            for sink in list(self._sinks):
                try:
                    await sink(text)
                except Exception:  # a peer gone mid-send: its transport notices and closes
                    log.debug("dropping a sink of %s", self.id, exc_info=True)
                    self.remove_sink(sink)

    def echo(self) -> dict[str, Any]:
        """The full session object as ``session.created``/``updated`` show it."""
        return echo_session(self.config, session_id=self.id, expires_at=self.expires_at)

    async def start(self) -> None:
        """Send ``session.created`` (once) and start the maximum-duration timer."""
        if self._started or self._closed:
            return
        self._started = True
        await self.emit(session_event("session.created", self.echo()))
        self._tasks.spawn(self._expire(), "the expiry timer")

    async def _expire(self) -> None:
        # Counted from creation (as expires_at is), not from when the transport started the session.
        await asyncio.sleep(max(0.0, self._deadline - time.monotonic()))
        await self.emit(session_expired(self._max_duration))
        self.ended.set()

    async def _report_failure(self, what: str, error: BaseException) -> None:
        """A background task failed unexpectedly (the task owner logged it): tell the client."""
        await self.emit(error_event(internal_error()))

    async def aclose(self) -> None:
        """Cancel every task the session owns and release the input observer. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.ended.set()
        await self._tasks.aclose()
        self._sinks.clear()
        if self._observer is not None:
            await self._observer.aclose()

    # ---- input -------------------------------------------------------------------------------------

    async def handle_message(self, raw: str | bytes) -> None:
        """Handle one client message; every problem becomes an ``error`` event, never an exception.

        A bug met while handling an event is logged and answered with a ``server_error``; the session
        goes on serving the next event.
        """
        event: ClientEvent | None = None
        try:
            event = parse_client_event(raw)
            await self._dispatch(event)
        except ClientEventError as exc:
            await self.emit(error_event(exc, exc.event_id))
        except Exception:
            kind = event.type if event is not None else "a client event"
            log.exception("session %s: handling %s failed", self.id, kind)
            await self.emit(error_event(internal_error(), event.event_id if event is not None else None))

    def feed_input_audio(self, pcm: bytes) -> None:
        """Audio from the WebRTC track (24 kHz mono PCM16): into the input buffer and the observer."""
        if self._closed:
            return
        self._buffer.feed(pcm)
        if self._observer is not None:
            self._observer.on_audio(pcm)

    async def _dispatch(self, event: ClientEvent) -> None:
        """Run one validated event, matched on its official SDK type."""
        try:
            match event.model:
                case SessionUpdateEvent():
                    await self._update_session(event.payload["session"])
                case InputAudioBufferAppendEvent(audio=audio):
                    self._append_input_audio(audio)
                case InputAudioBufferCommitEvent():
                    await self.commit_input_audio()
                case InputAudioBufferClearEvent():
                    await self._clear_input_audio()
                case OutputAudioBufferClearEvent():
                    await self._out.clear()
                case ConversationItemCreateEvent(previous_item_id=previous):
                    await self._create_item(event.payload["item"], previous)
                case ConversationItemRetrieveEvent(item_id=item_id):
                    await self._retrieve_item(item_id)
                case ConversationItemTruncateEvent(item_id=item_id, content_index=index, audio_end_ms=end_ms):
                    await self._truncate_item(item_id, index, end_ms)
                case ConversationItemDeleteEvent(item_id=item_id):
                    await self._delete_item(item_id)
                case ResponseCreateEvent():
                    # The options as given (item references kept, which the SDK model cannot hold).
                    await self.create_response(event.payload.get("response") or {})
                case ResponseCancelEvent(response_id=response_id):
                    self.cancel_response(response_id)
                case _:  # parse_client_event knows no other type
                    raise AssertionError(f"no handler for {event.type}")
        except InvalidRequest as exc:  # the protocol's rules: reported against the client's event
            raise ClientEventError(exc, event.event_id) from None

    async def _update_session(self, session: dict[str, Any]) -> None:
        update = parse_session_request(session)
        self.config = apply_update(self.config, update, voice_locked=self._voice_locked)
        await self.emit(session_event("session.updated", self.echo()))

    @property
    def config(self) -> dict[str, Any]:
        """The session's effective config (the GA session object, without ids)."""
        return self._config

    @config.setter
    def config(self, config: dict[str, Any]) -> None:
        # Parsed once per change, not per audio chunk or VAD window: what the audio path reads.
        self._config = config
        self.settings = SessionSettings.from_config(config)
        self.turn_params: TurnParams | None = self.settings.turn
        # A WebRTC track delivers PCM16 24 kHz whatever the configured format says.
        self.input_format: dict[str, Any] = dict(self._out.fixed_input_format or self.settings.input_format)
        self._input_bytes_per_ms = bytes_per_ms(self.input_format)

    def _input_per_ms(self) -> int:
        return self._input_bytes_per_ms

    def _append_input_audio(self, audio: str) -> None:
        data = self._buffer.append_base64(audio)
        if self._observer is not None:
            self._observer.on_audio(data)

    async def commit_input_audio(
        self, item_id: str | None = None, *, start_ms: float | None = None, end_ms: float | None = None
    ) -> str:
        """Commit the input buffer as a user audio item (also the turn detector's entry point).

        A turn detector names the item it announced in ``speech_started`` and the span of the input
        stream to commit (ms since the session's first audio): audio before ``start_ms`` is dropped,
        audio after ``end_ms`` stays for the next turn.
        """
        per_ms = self._input_per_ms()
        audio = self._buffer.commit(
            per_ms,
            start=None if start_ms is None else round(start_ms * per_ms),
            end=None if end_ms is None else round(end_ms * per_ms),
        )
        item: dict[str, Any] = {
            "id": item_id or new_id("item"),
            "type": "message",
            "status": "completed",
            "role": "user",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        previous = self.conversation.insert(item)
        self.conversation.set_audio(item["id"], audio, per_ms)
        await self.emit(
            server_event("input_audio_buffer.committed", previous_item_id=previous, item_id=item["id"])
        )
        await self.emit(item_event("conversation.item.added", item, previous))
        await self.emit(item_event("conversation.item.done", item, previous))
        if self._observer is not None:
            self._observer.on_committed(item["id"], audio)
        return str(item["id"])

    def discard_input_audio(self, before_ms: float) -> None:
        """Drop uncommitted input audio older than ``before_ms`` (a turn detector keeps only what a turn
        could still need, so a long silent call doesn't fill the buffer)."""
        self._buffer.discard_before(round(before_ms * self._input_per_ms()))

    # ---- what the voice pipeline reports (the VoiceSession port) -----------------------------------

    @property
    def transcription_language(self) -> str | None:
        """The language the client asked the transcription to use (None: detect)."""
        return self.settings.transcription_language

    def new_turn_id(self) -> str:
        """A user turn becomes a conversation item: its id is an item id."""
        return new_id("item")

    async def speech_started(self, turn_id: str, audio_start_ms: int) -> None:
        """``input_audio_buffer.speech_started`` for the item the turn will become."""
        await self.emit(
            server_event("input_audio_buffer.speech_started", audio_start_ms=audio_start_ms, item_id=turn_id)
        )

    async def speech_stopped(self, turn_id: str, audio_end_ms: int) -> None:
        """``input_audio_buffer.speech_stopped``; the pipeline commits the turn next."""
        await self.emit(
            server_event("input_audio_buffer.speech_stopped", audio_end_ms=audio_end_ms, item_id=turn_id)
        )

    async def idle_timeout(self, turn_id: str, audio_start_ms: int, audio_end_ms: int) -> None:
        """``input_audio_buffer.timeout_triggered``; the pipeline commits the silence and responds."""
        await self.emit(
            server_event(
                "input_audio_buffer.timeout_triggered",
                item_id=turn_id,
                audio_start_ms=audio_start_ms,
                audio_end_ms=audio_end_ms,
            )
        )

    def expect_transcript(self, turn_id: str) -> None:
        """A response including this item waits for its words."""
        self.transcripts.expect(turn_id)

    async def transcribed(self, turn_id: str, heard: Heard) -> None:
        """Keep the words for the responder, fill in the item's transcript and send the transcription
        events the client asked for (:mod:`~voxgate.engine.realtime.transcription`)."""
        self.transcripts.settle(turn_id, heard.text)
        transcription = self.settings.transcription
        if transcription and heard.text is not None:
            self.set_input_transcript(turn_id, heard.text)
        for event in transcription_events(turn_id, heard, transcription):
            await self.emit(event)

    def set_input_transcript(self, item_id: str, transcript: str) -> None:
        """Fill in a user audio item's transcript (what ``conversation.item.retrieve`` then shows)."""
        item = next((i for i in self.conversation.items() if i["id"] == item_id), None)
        if item is None:  # deleted meanwhile
            return
        for part in item.get("content") or []:
            if part.get("type") == "input_audio":
                part["transcript"] = transcript
        self.conversation.replace(item)

    async def _clear_input_audio(self) -> None:
        self._buffer.clear()
        await self.emit(server_event("input_audio_buffer.cleared"))

    # ---- conversation --------------------------------------------------------------------------------

    async def _create_item(self, given: dict[str, Any], previous_item_id: str | None) -> None:
        item = dict(given)
        item.setdefault("id", new_id("item"))
        previous = self.conversation.insert(item, previous_item_id, audio_bytes_per_ms=self._input_per_ms())
        stored = self.conversation.get(item["id"])
        await self.emit(item_event("conversation.item.added", stored, previous))
        await self.emit(item_event("conversation.item.done", stored, previous))

    async def _retrieve_item(self, item_id: str) -> None:
        item = self.conversation.get(item_id)
        limit = self._out.max_event_audio_ms
        if limit is not None and self.conversation.audio_ms(item["id"]) > limit:
            # A data channel message is capped (256 KiB in browsers); long audio would not fit, so the
            # item goes without its audio bytes rather than not at all.
            item = public_item(item)
        await self.emit(server_event("conversation.item.retrieved", item=item))

    async def _truncate_item(self, item_id: str, content_index: int, audio_end_ms: int) -> None:
        self.conversation.truncate(item_id, content_index, audio_end_ms)
        # Over WebRTC the server holds the audio: nothing past the client's cut may still play.
        stopped = self._out.stop_item(item_id)
        if stopped is not None:
            await self.emit(server_event("output_audio_buffer.cleared", response_id=stopped))
        await self.emit(
            server_event(
                "conversation.item.truncated",
                item_id=item_id,
                content_index=content_index,
                audio_end_ms=audio_end_ms,
            )
        )

    async def _delete_item(self, item_id: str) -> None:
        self.conversation.delete(item_id)
        await self.emit(server_event("conversation.item.deleted", item_id=item_id))

    # ---- responses -----------------------------------------------------------------------------------

    async def create_response(self, options: dict[str, Any] | None = None) -> str:
        """Start a response (also the turn detector's entry point); returns its id."""
        plan = plan_response(self.settings, options or {}, self.conversation)
        if plan.conversation is not None and self._active is not None:
            raise InvalidRequest(
                f"Conversation already has an active response in progress: {self._active.id}. Wait until "
                "the response is finished before creating a new response.",
                code="conversation_already_has_active_response",
            )
        # A WebRTC call without an audio track has nowhere to play: speak nothing rather than put audio
        # deltas on the data channel, which the real server never does.
        speaks = self._out.speaks
        run = ResponseRun(
            plan,
            responder=self._responder,
            emit=self.emit,
            rate_window=self._rates,
            synthesizer=self._synth if speaks else None,
            output=self._out,
            prepare=self._prepare_request,
        )
        self._runs[run.id] = run
        if plan.conversation is not None:
            self._active = run
        self._tasks.spawn(self._drive(run), f"response {run.id}")
        return run.id

    async def _prepare_request(self, request: ResponderRequest) -> ResponderRequest:
        return dataclasses.replace(request, items=await self.transcripts.fill(request.items))

    @property
    def responding(self) -> bool:
        """True while a response on the default conversation runs or its audio is still playing."""
        return self._active is not None or self._out.playing

    async def _drive(self, run: ResponseRun) -> None:
        try:
            await run.run()
        finally:
            self._runs.pop(run.id, None)
            if self._active is run:
                self._active = None
        self._voice_locked |= run.produced_audio
        if run.played_audio:
            await self._out.finish(run.id, run.audio_item_ids, self.conversation)
        if run.plan.conversation is not None:
            self.replies_finished += 1

    def cancel_response(self, response_id: str | None = None, reason: str = "client_cancelled") -> None:
        """Cancel a response in flight (the default one unless ``response_id`` is given)."""
        run = (
            self._runs.get(response_id)
            if response_id
            else self._active or next(iter(self._runs.values()), None)
        )
        if run is None:
            raise InvalidRequest(
                "Cancellation failed: no active response found", code="response_cancel_not_active"
            )
        run.cancel(reason)

    # ---- barge-in ----------------------------------------------------------------------------------

    def stop_playback(self) -> FinishInterruption:
        """Barge-in, step one, synchronous so not one more frame of the reply goes out: drop the unplayed
        output audio, refuse late chunks of the responses in flight and cancel the active response
        (``turn_detected``), holding its closing events for :meth:`interrupt` (what is returned)."""
        run = self._active
        if run is not None:
            run.hold_cancel("turn_detected")
        cut = Interruption(self._out.interrupt(run.id if run is not None else None), run)
        return functools.partial(self.interrupt, cut)

    async def interrupt(self, interruption: Interruption) -> None:
        """Barge-in, step two (after ``speech_started``): ``output_audio_buffer.cleared`` if audio was
        playing, the cancelled response's closing events, then the assistant item truncated to what
        was heard (``conversation.item.truncated``)."""
        cut, run = interruption.cut, interruption.response
        if cut.response_id is not None:
            await self.emit(server_event("output_audio_buffer.cleared", response_id=cut.response_id))
        if run is not None:
            run.release()
            await run.finished.wait()
        if cut.item_id is None or cut.item_id not in self.conversation:
            return
        try:
            self.conversation.truncate(cut.item_id, 0, cut.played_ms)
        except InvalidRequest:  # not an audio item (any more): nothing to cut
            return
        self._set_output_transcript(cut.item_id, cut.transcript)
        await self.emit(
            server_event(
                "conversation.item.truncated",
                item_id=cut.item_id,
                content_index=0,
                audio_end_ms=cut.played_ms,
            )
        )

    def _set_output_transcript(self, item_id: str, transcript: str) -> None:
        item = next(i for i in self.conversation.items() if i["id"] == item_id)
        item["content"][0]["transcript"] = transcript
        self.conversation.replace(item)
