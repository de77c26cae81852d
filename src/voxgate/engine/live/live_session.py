"""One GPT-Live session: its channels, the timeline, turns, replies, mute, standby, usage and the close.

Channels (:mod:`~voxgate.engine.live.channels`): one primary (the WebRTC data channel, filtered by
``client.data_channel``, or the primary WebSocket) and any number of trusted sidebands, which also get
the reflected audio of both directions. ``session.closed`` is delivered before the session reports
itself ended, so its sockets close after it.

The model's turn-taking is the engine's voice pipeline, plugged in through
:class:`~voxgate.engine.live.voice_link.LiveVoice`. It always hears PCM16 24 kHz (a WebSocket session's
format is converted by its codec) and, while the session is muted, silence of the same length (so its
clock keeps time with the timeline). A reply's words go out as ``session.output_transcript.delta`` as
their audio starts, with the audio reflected to the sidebands.
Standby (WebRTC, ``idle_timeout_s`` with a speech ``wake_policy``): after that many seconds without
speech or a reply, ``session.paused`` and paused time; speech above the wake threshold resumes it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from voxgate.engine.config import EngineConfig
from voxgate.engine.live.channels import Channels
from voxgate.engine.live.client_events import Channel, ClientEventError, parse_client_event
from voxgate.engine.live.codec import PCM24, AudioCodec
from voxgate.engine.live.commands import run_command
from voxgate.engine.live.conversation import FixedResponder, startup_item
from voxgate.engine.live.events import audio_delta, error_event, live_event, reflected_input
from voxgate.engine.live.input_tape import InputTape
from voxgate.engine.live.output import LiveOutput, PlaybackOutput, SilentOutput, StreamOutput
from voxgate.engine.live.permissions import Permissions
from voxgate.engine.live.reply import Replies
from voxgate.engine.live.settings import LiveSettings
from voxgate.engine.live.timeline import Standby, Timeline
from voxgate.engine.live.voice_link import LiveVoice
from voxgate.engine.ports import (
    AudioPlayback,
    InputObserverFactory,
    Responder,
    Sink,
    VoiceSession,
)
from voxgate.engine.speech.base import SpeechSynthesizer
from voxgate.engine.tasks import TaskOwner
from voxgate.errors import InvalidRequest, VoxgateError

__all__ = ["LiveSession"]

log = logging.getLogger(__name__)
REFLECT_BYTES = 100 * 48  # reflected input goes to sidebands in pieces of 100 ms


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
        self._deadline = time.monotonic() + config.live_max_duration_s
        self._ended = asyncio.Event()
        self.close_reason: str | None = None
        webrtc = settings.transport == "webrtc"
        self._codec = codec if not webrtc else PCM24
        self.permissions = Permissions.from_client(settings.client if webrtc else None)
        self.channels = Channels(f"live session {session_id}", self.permissions if webrtc else None)
        self.timeline = Timeline(interval_ms=config.live_usage_interval_s * 1000, breakdown=webrtc)
        self._tape = InputTape(48, max_bytes=config.max_input_buffer_bytes)
        self._tasks = TaskOwner(f"live session {session_id}", on_failure=self._report_failure)
        self._started: dict[str, Any] | None = None
        self.muted = False
        self.max_append_bytes = config.max_append_bytes
        self.standby = Standby(settings.idle_timeout_s if webrtc else None)
        self._reflect = bytearray()
        self._output = self._choose_output(playback)
        self.replies = Replies(
            self._output,
            responder=responder,
            synthesizer=synthesizer,
            voice=settings.voice_name,
            instructions=settings.instructions,
            history=[startup_item(item) for item in settings.input],
            spawn=self._tasks.spawn,
        )
        self.voice = LiveVoice(
            session_id,
            timeline=self.timeline,
            standby=self.standby,
            replies=self.replies,
            tape=self._tape,
            wake_threshold=settings.wake_threshold,
            send=self.send,
        )
        self.voice.observer = observer_factory(self.voice) if observer_factory is not None else None

    def _choose_output(self, playback: AudioPlayback | None) -> LiveOutput:
        if self.settings.transport == "websocket":
            return StreamOutput(self._codec.from_pcm24, self._to_primary, self._spoken)
        if playback is not None:
            return PlaybackOutput(playback, self.now_ms, self._spoken)
        return SilentOutput(self.now_ms, self._spoken)

    # ---- channels and lifecycle --------------------------------------------------------------------

    @property
    def id(self) -> str:
        """The session id (``live_…``)."""
        return self._id

    @property
    def ended(self) -> asyncio.Event:
        """Set once ``session.closed`` has been delivered (or the session was torn down)."""
        return self._ended

    def now_ms(self) -> int:
        """The timeline's position."""
        return self.timeline.now_ms

    def resource(self) -> dict[str, Any]:
        """The ``SessionResource`` of this session."""
        return self.settings.resource(self.id, self.expires_at)

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

    def send(self, event: Mapping[str, Any]) -> None:
        """An event to the primary (if permitted) and every sideband."""
        self.channels.send(event)

    def _to_primary(self, event: Mapping[str, Any]) -> None:
        self.channels.send(event, sideband=False)

    def _to_sidebands(self, event: Mapping[str, Any]) -> None:
        self.channels.send(event, primary=False)

    async def start(self, client_event_id: str | None = None) -> None:
        """Send ``session.started`` (and the data channel's permissions, if restricted); once."""
        if self._started is not None or self.close_reason is not None:
            return
        self._started = live_event("session.started", client_event_id, session=self.resource())
        self.send(self._started)
        if self.permissions.restricted:
            self.send(
                live_event("info", code="data_channel_permissions", message=self.permissions.describe())
            )
        self._tasks.spawn(self._expire(), "the expiry timer")

    async def _expire(self) -> None:
        await asyncio.sleep(max(0.0, self._deadline - time.monotonic()))
        await self.close("expired")

    async def _report_failure(self, what: str, error: BaseException) -> None:
        failure = InvalidRequest(
            "The server had an error while processing your request.", code="server_error"
        )
        self.send(error_event(failure))

    async def close(self, reason: str, client_event_id: str | None = None) -> None:
        """``session.closed`` with ``reason`` and the final usage on every channel, then the end."""
        if self.close_reason is not None:
            return
        self.close_reason = reason
        self._output.clear()
        closed = live_event(
            "session.closed",
            client_event_id,
            reason=reason,
            session=self.resource(),
            usage=self.timeline.usage(),
        )
        self.send(closed)
        await self.channels.flush()
        self._ended.set()

    async def aclose(self) -> None:
        """Release everything; a session torn down without a close reports ``connection_lost``."""
        await self.close("connection_lost")
        await self._tasks.aclose()
        await self.channels.aclose()
        if self.voice.observer is not None:
            observer, self.voice.observer = self.voice.observer, None
            await observer.aclose()

    # ---- client events -------------------------------------------------------------------------------

    async def handle_message(self, raw: str | bytes) -> None:
        """A client event from the primary channel (the data channel, or the primary WebSocket)."""
        await self._handle(raw, "data_channel" if self.settings.transport == "webrtc" else "websocket")

    async def handle_sideband_message(self, raw: str | bytes) -> None:
        """A client event from a sideband (trusted: no permissions apply)."""
        await self._handle(raw, "sideband")

    async def _handle(self, raw: str | bytes, channel: Channel) -> None:
        """Every problem becomes an ``error`` on the sender's channel; the session goes on."""
        reply = self._to_sidebands if channel == "sideband" else self._to_primary
        client_id: str | None = None
        try:
            event = parse_client_event(raw, channel)
            client_id = event.event_id
            if channel == "data_channel":
                self.permissions.check_client(event.type)
            await run_command(self, event)
        except ClientEventError as exc:
            reply(error_event(exc, exc.event_id))
        except VoxgateError as exc:
            reply(error_event(exc, client_id))
        except Exception:
            log.exception("live session %s: handling a client event failed", self.id)
            await self._report_failure("a client event", RuntimeError())

    def add_instructions(self, text: str) -> None:
        """``session.instructions.append``: more context for the replies to come."""
        self.replies.instructions.append(text)

    def play_fixture(self, pcm16_24k: bytes, client_event_id: str | None) -> None:
        """Play a clip on the output; ``session.output_audio.fixture.played`` once it has gone out."""
        self._output.speak(pcm16_24k, "")

        async def played() -> None:
            await self._output.wait_idle()
            self.send(live_event("session.output_audio.fixture.played", client_event_id))

        self._tasks.spawn(played(), "a fixture")

    # ---- input audio and speech ------------------------------------------------------------------------

    def feed_input_audio(self, audio: bytes) -> None:
        """The caller's audio: from the WebRTC track (PCM16 24 kHz) or appended (the session format)."""
        if self.close_reason is not None or not audio:
            return
        pcm = self._codec.to_pcm24(audio)
        if self.voice.observer is not None:  # only the pipeline's turns read the tape
            self._tape.append(pcm)
        self._reflect += pcm  # reflected before muting, as the real server does
        if len(self._reflect) >= REFLECT_BYTES:
            if self.channels.sidebands:
                self._to_sidebands(reflected_input(bytes(self._reflect)))
            self._reflect.clear()
        if self.voice.observer is not None:
            self.voice.observer.on_audio(bytes(len(pcm)) if self.muted else pcm)
        ms = len(audio) / self._codec.bytes_per_ms
        if self.timeline.advance(ms, paused=self.standby.paused):
            self.send(live_event("session.usage.updated", usage=self.timeline.usage()))
        self._output.advance(ms, self.timeline.ms)
        if self.standby.update(self.timeline.ms, busy=self.voice.in_speech or self.replies.running):
            self.send(live_event("session.paused"))

    def say(self, text: str) -> None:
        """Speak ``text`` as a reply of its own (``session.commentary.append``, e.g. a gateway's warning)."""
        self.replies.queue(FixedResponder(text), "commentary")

    def _spoken(self, pcm16_24k: bytes, text: str, start_ms: int, end_ms: int) -> None:
        """A piece of reply audio started: its words to every channel, its audio to the sidebands."""
        if text:
            self.send(
                live_event("session.output_transcript.delta", delta=text, start_ms=start_ms, end_ms=end_ms)
            )
        for offset in range(0, len(pcm16_24k), REFLECT_BYTES):
            piece = pcm16_24k[offset : offset + REFLECT_BYTES]
            at = start_ms + offset // 48
            self._to_sidebands(audio_delta(piece, at, at + len(piece) // 48))
