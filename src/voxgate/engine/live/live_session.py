"""One GPT-Live session: its channels, the timeline, turns, replies, mute, pause, usage and the close.

Channels: one *primary* (the WebRTC data channel, filtered by ``client.data_channel``, or the primary
WebSocket) and any number of trusted *sidebands*, which see every event plus the reflected audio in both
directions. Everything sent goes through one outbox drained by one writer task, so events keep their
order whether they come from the audio path (synchronous) or from a reply (a task), and
``session.closed`` is delivered before the session reports itself ended and its sockets close.

The model's turn-taking is the engine's voice pipeline: this class is its
:class:`~voxgate.engine.ports.VoiceSession`. A turn's words become ``session.input_transcript.delta``
events placed on the turn's span of the timeline, and a reply's words ``session.output_transcript.delta``
as their audio starts. Muting stops what the pipeline hears (it gets silence, so its clock keeps time)
but not the reflection nor the billing.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from voxgate.engine.config import EngineConfig
from voxgate.engine.ids import new_id
from voxgate.engine.live.channels import Channels
from voxgate.engine.live.client_events import Channel, ClientEventError, ParsedEvent, parse_client_event
from voxgate.engine.live.codec import PCM24, AudioCodec
from voxgate.engine.live.events import audio_delta, error_event, live_event, reflected_input
from voxgate.engine.live.input_tape import InputTape
from voxgate.engine.live.output import LiveOutput, PlaybackOutput, SilentOutput, StreamOutput
from voxgate.engine.live.permissions import Permissions
from voxgate.engine.live.reply import speak_reply
from voxgate.engine.live.settings import LiveSettings
from voxgate.engine.live.timeline import Timeline
from voxgate.engine.ports import (
    AudioPlayback,
    FinishInterruption,
    Heard,
    InputObserverFactory,
    Responder,
    ResponderRequest,
    Sink,
    TextDelta,
    VoiceSession,
)
from voxgate.engine.speech.base import SpeechSynthesizer
from voxgate.engine.tasks import TaskOwner
from voxgate.engine.turns import TurnParams
from voxgate.errors import InvalidRequest, VoxgateError

__all__ = ["LiveSession"]

log = logging.getLogger(__name__)
# The engine plays the model's turn-taking with these (there is no turn detection config in GPT-Live).
TURNS = TurnParams(mode="server_vad", threshold=0.5, prefix_padding_ms=300, end_of_turn_ms=500)
REFLECT_MS = 100  # reflected input goes to sidebands in pieces of about this much
TRANSCRIPT_STEP_MS = 200  # input transcript deltas sit on a grid of about this much
FIXTURE_MAX_MS = 30_000


def _ack(kind: str) -> str:
    """``session.input_audio.mute`` → ``session.input_audio.muted`` (and unmute)."""
    return f"{kind}d"


async def _done() -> None:
    """Nothing more to say about a cut reply: GPT-Live has no item to truncate."""


class LiveSession:
    """Protocol state of one Live session (see the module docstring)."""

    def __init__(
        self,
        *,
        session_id: str,
        settings: LiveSettings,
        config: EngineConfig,
        responder: Responder,
        synthesizer: SpeechSynthesizer | None = None,
        playback: AudioPlayback | None = None,
        observer_factory: InputObserverFactory[VoiceSession] | None = None,
        codec: AudioCodec = PCM24,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._id = session_id
        self.settings = settings
        self.expires_at = int(clock() + config.live_max_duration_s)
        self._max_duration = config.live_max_duration_s
        self._ended = asyncio.Event()
        self.close_reason: str | None = None
        self._codec = codec if settings.transport == "websocket" else PCM24
        self.permissions = Permissions.from_client(
            settings.client if settings.transport == "webrtc" else None
        )
        self.timeline = Timeline(
            interval_ms=config.live_usage_interval_s * 1000, breakdown=settings.transport == "webrtc"
        )
        self._tape = InputTape(self._codec.bytes_per_ms, max_bytes=config.max_input_buffer_bytes)
        self._responder = responder
        self._synth = synthesizer
        webrtc = settings.transport == "webrtc"
        self.channels = Channels(f"live session {session_id}", self.permissions if webrtc else None)
        self._tasks = TaskOwner(f"live session {session_id}", on_failure=self._report_failure)
        self._started: dict[str, Any] | None = None
        self.muted = False
        self.paused = False
        self._in_speech = False
        self._last_activity_ms = 0.0
        self._reflect = bytearray()
        self._turn_spans: dict[str, tuple[int, int]] = {}
        self.history: list[dict[str, Any]] = [self._history_item(item) for item in settings.input]
        self._extra_instructions: list[str] = []
        self._reply: asyncio.Task[None] | None = None
        self._replies_finished = 0
        self._closed = False
        self._output: LiveOutput = self._choose_output(playback)
        self._observer = observer_factory(self) if observer_factory is not None else None

    def _choose_output(self, playback: AudioPlayback | None) -> LiveOutput:
        if self.settings.transport == "websocket":
            return StreamOutput(self._codec.from_pcm24, lambda e: self._send(e, sideband=False), self._spoken)
        if playback is not None:
            return PlaybackOutput(playback, lambda: self.timeline.now_ms, self._spoken)
        return SilentOutput(lambda: self.timeline.now_ms, self._spoken)

    # ---- channels ------------------------------------------------------------------------------------

    @property
    def id(self) -> str:
        """The session id (``live_…``)."""
        return self._id

    @property
    def ended(self) -> asyncio.Event:
        """Set once ``session.closed`` has been delivered (or the session was torn down)."""
        return self._ended

    def add_sink(self, sink: Sink) -> None:
        """The primary channel: the data channel (filtered by its permissions) or the primary WebSocket."""
        self.channels.primary = sink

    def attach_sideband(self, sink: Sink) -> None:
        """A trusted observer: a short replay (``session.started``), then every event and the audio."""
        self.channels.sidebands.append(sink)
        if self._started is not None:
            self.channels.send_to(sink, self._started)

    def detach_sideband(self, sink: Sink) -> None:
        """The observer left; the session goes on."""
        self.channels.detach(sink)

    def _send(self, event: Mapping[str, Any], *, primary: bool = True, sideband: bool = True) -> None:
        self.channels.send(event, primary=primary, sideband=sideband)

    async def start(self, client_event_id: str | None = None) -> None:
        """Send ``session.started`` (and, for a restricted data channel, its permissions) and start the
        session's clock; once."""
        if self._started is not None or self._closed:
            return
        self._started = live_event(
            "session.started", client_event_id, session=self.settings.resource(self.id, self.expires_at)
        )
        self._send(self._started)
        if self.permissions.restricted:
            self._send(
                live_event("info", code="data_channel_permissions", message=self.permissions.describe())
            )
        self._tasks.spawn(self._expire(), "the expiry timer")

    async def _expire(self) -> None:
        await asyncio.sleep(max(0.0, self.expires_at - time.time()))
        await self.close("expired")

    async def _report_failure(self, what: str, error: BaseException) -> None:
        self._send(
            error_event(
                InvalidRequest("The server had an error while processing your request.", code="server_error")
            )
        )

    # ---- input audio ---------------------------------------------------------------------------------

    @property
    def input_format(self) -> Mapping[str, Any]:
        """What the voice pipeline is handed: the session format (WebSocket) or PCM16 24 kHz (WebRTC)."""
        return (
            self.settings.audio_format
            if self.settings.transport == "websocket"
            else {"type": "audio/pcm", "rate": 24000}
        )

    def feed_input_audio(self, pcm: bytes) -> None:
        """The caller's audio from the WebRTC track (PCM16 24 kHz) or a WebSocket append (session format)."""
        if self._closed or not pcm:
            return
        self._tape.append(pcm)
        pcm24 = self._codec.to_pcm24(pcm)
        self._reflect += pcm24
        if len(self._reflect) >= REFLECT_MS * 48 and self.channels.sidebands:
            self._send(reflected_input(bytes(self._reflect)), primary=False)
        if len(self._reflect) >= REFLECT_MS * 48:
            self._reflect.clear()
        if self._observer is not None:
            self._observer.on_audio(bytes(len(pcm)) if self.muted else pcm)  # keep its clock
        ms = len(pcm) / self._codec.bytes_per_ms
        if self.timeline.advance(ms, paused=self.paused):
            self._send(live_event("session.usage.updated", usage=self.timeline.usage()))
        self._output.advance(ms, self.timeline.ms)
        self._check_idle()

    def _check_idle(self) -> None:
        timeout = self.settings.idle_timeout_s
        if timeout is None or self.paused or self._in_speech or self.responding:
            if self._in_speech or self.responding:
                self._last_activity_ms = self.timeline.ms
            return
        if self.timeline.ms - self._last_activity_ms >= timeout * 1000:
            self.paused = True
            self._send(live_event("session.paused"))

    # ---- the VoiceSession port -----------------------------------------------------------------------

    @property
    def turn_params(self) -> TurnParams | None:
        """The engine's own turn-taking; while paused, speech must pass the wake policy's threshold."""
        if self.paused:
            return TurnParams(mode="server_vad", threshold=self.settings.wake_threshold, end_of_turn_ms=500)
        return TURNS

    @property
    def transcription_language(self) -> str | None:
        """GPT-Live has no transcription setting: the recognizer detects or uses its default."""
        return None

    @property
    def replies_finished(self) -> int:
        """Replies over, their audio played."""
        return self._replies_finished

    @property
    def responding(self) -> bool:
        """True while a reply is written or its audio still plays."""
        return self._reply is not None or self._output.busy

    def new_turn_id(self) -> str:
        """Turns have no items in GPT-Live: an opaque key."""
        return new_id("turn")

    def stop_playback(self) -> FinishInterruption:
        """Barge-in: drop the queued reply audio and stop writing the reply, at once."""
        self._output.clear()
        if self._reply is not None:
            self._reply.cancel()
        return _done

    async def speech_started(self, turn_id: str, audio_start_ms: int) -> None:
        """The user speaks: a paused session wakes (``session.resumed``)."""
        self._in_speech = True
        self._turn_spans[turn_id] = (audio_start_ms, audio_start_ms)
        if self.paused:
            self.paused = False
            self._last_activity_ms = self.timeline.ms
            self._send(live_event("session.resumed"))

    async def speech_stopped(self, turn_id: str, audio_end_ms: int) -> None:
        """The turn's span is known; its commit follows."""
        self._in_speech = False
        self._last_activity_ms = self.timeline.ms
        start, _ = self._turn_spans.get(turn_id, (audio_end_ms, audio_end_ms))
        self._turn_spans[turn_id] = (start, audio_end_ms)

    async def idle_timeout(self, turn_id: str, audio_start_ms: int, audio_end_ms: int) -> None:
        """Never asked for (the turn parameters have no idle timeout); GPT-Live pauses instead."""

    async def commit_input_audio(
        self, item_id: str | None = None, *, start_ms: float | None = None, end_ms: float | None = None
    ) -> str:
        """Hand the turn's span of input to the observer for transcription."""
        turn = item_id or self.new_turn_id()
        audio = self._tape.span(start_ms, end_ms)
        if not audio:
            raise InvalidRequest("No input audio in the turn's span.", code="input_audio_buffer_commit_empty")
        if self._observer is not None:
            self._observer.on_committed(turn, audio)
        return turn

    def discard_input_audio(self, before_ms: float) -> None:
        """Input before ``before_ms`` will not be needed by a turn."""
        self._tape.discard_before(before_ms)

    def expect_transcript(self, turn_id: str) -> None:
        """Nothing waits on transcripts here: a reply is created after them."""

    async def transcribed(self, turn_id: str, heard: Heard) -> None:
        """The turn's words: input transcript deltas on the turn's span, and the history for replies."""
        start, end = self._turn_spans.pop(turn_id, (self.timeline.now_ms, self.timeline.now_ms))
        words = (heard.text or "").split()
        if not words:
            return
        self.history.append(
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": " ".join(words)}]}
        )
        count = max(1, min(len(words), (end - start) // TRANSCRIPT_STEP_MS))
        size = -(-len(words) // count)
        pieces = [" ".join(words[i : i + size]) for i in range(0, len(words), size)]
        step = (end - start) / len(pieces)
        for index, piece in enumerate(pieces):
            self._send(
                live_event(
                    "session.input_transcript.delta",
                    delta=piece if index == 0 else f" {piece}",
                    start_ms=round(start + index * step),
                    end_ms=round(start + (index + 1) * step),
                )
            )

    async def create_response(self) -> str:
        """Answer the conversation so far (the model's reply); one at a time."""
        if self._reply is not None:
            raise InvalidRequest("A reply is already being spoken.", code="reply_in_progress")
        reply_id = new_id("reply")
        self._reply = self._tasks.spawn(self._speak(), f"reply {reply_id}")
        return reply_id

    def say(self, text: str) -> None:
        """Speak ``text`` as a reply of its own (``session.commentary.append``: e.g. a gateway's warning)."""
        if self._reply is None:
            self._reply = self._tasks.spawn(self._speak(text), "commentary")

    async def _speak(self, text: str | None = None) -> None:
        instructions = "\n".join(filter(None, [self.settings.instructions or "", *self._extra_instructions]))
        request = ResponderRequest(items=list(self.history), instructions=instructions)
        responder = self._responder if text is None else _Fixed(text)
        said = ""
        try:
            said = await speak_reply(
                request, responder, self._output, synthesizer=self._synth, voice=self.settings.voice_name
            )
        finally:
            self._reply = None
            if said:
                self.history.append(
                    {
                        "type": "message",
                        "role": "assistant",
                        "content": [{"type": "output_text", "text": said}],
                    }
                )
        await self._output.wait_idle()
        self._replies_finished += 1
        self._last_activity_ms = self.timeline.ms

    def _spoken(self, pcm16_24k: bytes, text: str, start_ms: int, end_ms: int) -> None:
        """A piece of reply audio started: its words to every channel, its audio to the sidebands."""
        if text:
            self._send(
                live_event("session.output_transcript.delta", delta=text, start_ms=start_ms, end_ms=end_ms)
            )
        step = REFLECT_MS * 48
        for offset in range(0, len(pcm16_24k), step):
            piece = pcm16_24k[offset : offset + step]
            at = start_ms + offset // 48
            self._send(audio_delta(piece, at, at + len(piece) // 48), primary=False)

    # ---- client events ---------------------------------------------------------------------------------

    async def handle_message(self, raw: str | bytes) -> None:
        """A client event from the primary channel (the data channel, or the primary WebSocket)."""
        channel: Channel = "data_channel" if self.settings.transport == "webrtc" else "websocket"
        await self._handle(raw, channel)

    async def handle_sideband_message(self, raw: str | bytes) -> None:
        """A client event from a sideband (trusted: no permissions apply)."""
        await self._handle(raw, "sideband")

    async def _handle(self, raw: str | bytes, channel: Channel) -> None:
        """Every problem becomes an ``error`` event on the channel's side; the session goes on."""
        event: ParsedEvent | None = None
        try:
            event = parse_client_event(raw, channel)
            if channel == "data_channel":
                self.permissions.check_client(event.type)
            await self._dispatch(event)
        except ClientEventError as exc:
            self._send(
                error_event(exc, exc.event_id), sideband=channel == "sideband", primary=channel != "sideband"
            )
        except VoxgateError as exc:
            client_id = event.event_id if event is not None else None
            self._send(
                error_event(exc, client_id), sideband=channel == "sideband", primary=channel != "sideband"
            )
        except Exception:
            log.exception("live session %s: handling a client event failed", self.id)
            await self._report_failure("a client event", RuntimeError())

    async def _dispatch(self, event: ParsedEvent) -> None:
        kind, payload, client_id = event.type, event.payload, event.event_id
        if kind == "session.input_audio.append":
            self.feed_input_audio(self._decode(payload["audio"]))
        elif kind in ("session.input_audio.mute", "session.input_audio.unmute"):
            self.muted = kind.endswith(".mute")
            self._send(live_event(_ack(kind), client_id))
        elif kind in ("session.instructions.append", "session.thinking.append", "session.commentary.append"):
            now = self.timeline.now_ms
            if kind == "session.commentary.append":
                self.say(str(payload["content"]))
            elif kind == "session.instructions.append":
                self._extra_instructions.append(str(payload["content"]))
            self._send(live_event(kind.replace(".append", ".appended"), client_id, start_ms=now, end_ms=now))
        elif kind == "session.output_audio.fixture.play":
            self._send(live_event("session.output_audio.fixture.playing", client_id))
            self._output.speak(self._decode_pcm24(payload["audio"]), "")
            self._tasks.spawn(self._fixture_played(client_id), "a fixture")
        elif kind == "session.update":
            self._send(
                live_event(
                    "session.updated", client_id, session=self.settings.resource(self.id, self.expires_at)
                )
            )
        elif kind == "session.close":
            await self.close("close_requested", client_id)
        elif kind == "session.start":
            raise InvalidRequest("The session has already started.", code="session_already_started")
        elif kind in ("response.create", "response.item.create"):
            raise InvalidRequest(f"{kind} requires Responses delegation.", code="delegation_required")
        elif kind.startswith("decision."):
            raise InvalidRequest(f"{kind} requires Decisions delegation.", code="delegation_required")
        else:  # transport.dtmf.send
            raise InvalidRequest(f"{kind} applies only to SIP sessions.", code="not_a_sip_session")

    async def _fixture_played(self, client_event_id: str | None) -> None:
        await self._output.wait_idle()
        self._send(live_event("session.output_audio.fixture.played", client_event_id))

    def _decode(self, audio: str) -> bytes:
        try:
            return base64.b64decode(audio, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest("Invalid 'audio': expected base64-encoded audio.", param="audio") from None

    def _decode_pcm24(self, audio: str) -> bytes:
        pcm = self._decode(audio)
        if len(pcm) > FIXTURE_MAX_MS * 48:
            raise InvalidRequest("A fixture is at most 30 seconds of audio.", param="audio")
        return pcm[: len(pcm) - len(pcm) % 2]

    # ---- the end -------------------------------------------------------------------------------------

    async def close(self, reason: str, client_event_id: str | None = None) -> None:
        """``session.closed`` with ``reason`` and the final usage on every channel, then the end."""
        if self.close_reason is not None:
            return
        self.close_reason = reason
        self._output.clear()
        self._send(
            live_event(
                "session.closed",
                client_event_id,
                reason=reason,
                session=self.settings.resource(self.id, self.expires_at),
                usage=self.timeline.usage(),
            )
        )
        self._closed = True
        await self.channels.flush()
        self._ended.set()

    async def aclose(self) -> None:
        """Release everything; a session torn down without a close reports ``connection_lost``."""
        if self.close_reason is None:
            await self.close("connection_lost")
        self._closed = True
        self._ended.set()
        await self._tasks.aclose()
        await self.channels.aclose()
        if self._observer is not None:
            observer, self._observer = self._observer, None
            await observer.aclose()

    @staticmethod
    def _history_item(item: Mapping[str, Any]) -> dict[str, Any]:
        """A startup ``input`` message as a conversation item the responder reads."""
        role = str(item.get("role") or "user")
        texts = [str(part.get("text") or "") for part in item.get("content") or []]
        kind = "output_text" if role == "assistant" else "input_text"
        return {"type": "message", "role": role, "content": [{"type": kind, "text": " ".join(texts)}]}


class _Fixed:
    """A responder that says one given text (commentary)."""

    def __init__(self, text: str) -> None:
        self._text = text

    async def respond(self, request: ResponderRequest) -> AsyncIterator[TextDelta]:
        """The text, as one delta."""
        yield TextDelta(self._text)
