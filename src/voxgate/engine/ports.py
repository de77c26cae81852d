"""The seams of the engine, as small protocols: nothing here names a protocol's session.

* Output audio (the TTS seam): a session speaking over WebRTC hands 24 kHz PCM16 to an
  :class:`AudioPlayback` (the call's outgoing track, :class:`voxgate.engine.rtc.playback.PlaybackTrack`).
  Over WebSocket the same audio becomes the protocol's audio delta events instead (the choice is made
  once per session).
* Input audio (the VAD/ASR seam): every chunk of user audio, whether from the WebRTC track (resampled to
  24 kHz mono PCM16) or appended by a WebSocket client, goes to the session's :class:`InputAudioObserver`,
  built per session by an :class:`InputObserverFactory` given to the engine. The observer drives the
  session through :class:`VoiceSession`: it reports its decisions (speech started or stopped, an idle
  timeout, what was heard) in neutral terms, and each protocol (GA Realtime, GPT-Live) turns them into
  its own events. :mod:`voxgate.engine.voice` is the real implementation; it imports only this module.
* What answers (the language seam): a :class:`Responder` turns conversation items into text deltas and
  function calls; :mod:`voxgate.engine.assistants` holds the echo and a Chat Completions client.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from voxgate.engine.turns import TurnParams

__all__ = [
    "AudioPlayback",
    "CallSession",
    "FinishInterruption",
    "FunctionCall",
    "Heard",
    "InputAudioObserver",
    "InputObserverFactory",
    "Responder",
    "ResponderEvent",
    "ResponderRequest",
    "Sink",
    "TextDelta",
    "VoiceSession",
]

# The session an observer is built for (every protocol's session is a VoiceSession).
SessionT_contra = TypeVar("SessionT_contra", contravariant=True)
# Where a session's server events go, as JSON text (a data channel, a WebSocket, a sideband).
Sink = Callable[[str], Awaitable[None]]
# The second half of a barge-in (the protocol's events for the cut reply), run after speech_started.
FinishInterruption = Callable[[], Awaitable[None]]


class AudioPlayback(Protocol):
    """Where a WebRTC session's spoken audio goes: a queue drained in real time by the outgoing track.

    Chunks carry a tag (the output item they belong to); the playback counts what it actually sent of
    each tag and tells, per chunk, when its first sample went out.
    """

    def enqueue(self, pcm16_24k: bytes, tag: str = "") -> asyncio.Future[bool]:
        """Queue mono 24 kHz PCM16 after what is already queued; the future says when it starts playing
        (True) or that it was dropped unplayed (False)."""
        ...

    def clear(self) -> bool:
        """Drop everything not yet played; True if something was dropped."""
        ...

    def drop(self, tags: set[str]) -> bool:
        """Drop the queued chunks of ``tags`` that have not started playing."""
        ...

    def played_ms(self, tag: str) -> int:
        """Milliseconds of ``tag``'s audio sent so far."""
        ...

    def is_idle(self) -> bool:
        """True when nothing is queued."""
        ...

    async def wait_idle(self) -> None:
        """Return once everything queued so far has been played."""
        ...


class CallSession(Protocol):
    """What a WebRTC call needs of the protocol session it carries (GA Realtime or GPT-Live)."""

    @property
    def ended(self) -> asyncio.Event:
        """Set when the session is over (expired, closed); the call then hangs up."""
        ...

    def add_sink(self, sink: Sink) -> None:
        """Send the session's events for the call's data channel to ``sink``."""
        ...

    async def start(self) -> None:
        """The data channel is open: send the session's first events."""
        ...

    async def handle_message(self, raw: str | bytes) -> None:
        """One client event from the data channel."""
        ...

    def feed_input_audio(self, pcm: bytes) -> None:
        """The caller's audio, 24 kHz mono PCM16."""
        ...

    async def aclose(self) -> None:
        """End the session and release what it owns (idempotent)."""
        ...


class InputAudioObserver(Protocol):
    """Sees every chunk of user audio of one session (the VAD/ASR stage attaches here)."""

    def on_audio(self, pcm: bytes) -> None:
        """Called synchronously for each chunk, in the session's input format (PCM16 24 kHz by default)."""
        ...

    def on_committed(self, item_id: str, audio: bytes) -> None:
        """Called synchronously when a span of input becomes the user turn ``item_id`` (committed by the
        client or by turn detection), with its audio."""
        ...

    async def aclose(self) -> None:
        """Release what the observer owns; called once when the session closes."""
        ...


class InputObserverFactory(Protocol[SessionT_contra]):
    """Builds the input observer of one session (``voice_observer_factory(...)`` makes one)."""

    def __call__(self, session: SessionT_contra, /) -> InputAudioObserver:
        """The observer of ``session``; the session owns it and closes it."""
        ...


@dataclass(frozen=True, slots=True)
class Heard:
    """What the recognizer made of one committed turn: ``text`` (None when it failed, with ``error``)
    and the length of the turn's audio."""

    text: str | None
    audio_ms: float
    error: BaseException | None = None


class VoiceSession(Protocol):
    """What the voice pipeline drives: one protocol session, told about turns in neutral terms.

    Turn ids name a user turn from its start to its transcript (a GA conversation item id; an opaque
    key for GPT-Live, which has no items).
    """

    @property
    def id(self) -> str:
        """The session's id (for logs)."""
        ...

    @property
    def turn_params(self) -> TurnParams | None:
        """The turn detection in effect (None: off), read for every VAD window."""
        ...

    @property
    def input_format(self) -> Mapping[str, Any]:
        """The format of the audio handed to ``on_audio`` (``{"type": "audio/pcm", "rate": 24000}``)."""
        ...

    @property
    def transcription_language(self) -> str | None:
        """The language to transcribe (None: the recognizer's default or detection)."""
        ...

    @property
    def replies_finished(self) -> int:
        """How many replies have finished, their audio played (idle timeouts count from the last)."""
        ...

    @property
    def responding(self) -> bool:
        """True while a reply runs or its audio still plays."""
        ...

    def new_turn_id(self) -> str:
        """A fresh id for a user turn."""
        ...

    def stop_playback(self) -> FinishInterruption:
        """Barge-in, synchronously: silence the assistant now; the returned coroutine function sends
        the protocol's account of the cut (after :meth:`speech_started`)."""
        ...

    async def speech_started(self, turn_id: str, audio_start_ms: int) -> None:
        """The user started speaking at ``audio_start_ms`` of the input stream."""
        ...

    async def speech_stopped(self, turn_id: str, audio_end_ms: int) -> None:
        """The user's turn ended at ``audio_end_ms``; a commit of the turn follows."""
        ...

    async def idle_timeout(self, turn_id: str, audio_start_ms: int, audio_end_ms: int) -> None:
        """The user stayed silent from ``audio_start_ms`` to ``audio_end_ms`` after a reply."""
        ...

    async def commit_input_audio(
        self, item_id: str | None = None, *, start_ms: float | None = None, end_ms: float | None = None
    ) -> str:
        """Make ``[start_ms, end_ms)`` of the input stream the user turn ``item_id``; the session then
        calls the observer's ``on_committed``. Raises ``InvalidRequest`` when there is nothing to commit."""
        ...

    def discard_input_audio(self, before_ms: float) -> None:
        """Uncommitted input older than ``before_ms`` will never be needed."""
        ...

    def expect_transcript(self, turn_id: str) -> None:
        """A transcript of ``turn_id`` is being made (a reply that needs it waits)."""
        ...

    async def transcribed(self, turn_id: str, heard: Heard) -> None:
        """The transcript of ``turn_id`` (always called once after :meth:`expect_transcript`)."""
        ...

    async def create_response(self) -> str:
        """Answer the conversation so far; raises ``InvalidRequest`` when a reply already runs."""
        ...


@dataclass(frozen=True, slots=True)
class ResponderRequest:
    """Everything one response may depend on; items are GA conversation items (JSON dicts)."""

    items: Sequence[dict[str, Any]]
    instructions: str = ""
    tools: Sequence[dict[str, Any]] = ()
    tool_choice: str | dict[str, Any] = "auto"
    max_output_tokens: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the assistant's reply text (spoken when the response has audio output)."""

    text: str


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """A complete tool call; ``arguments`` is a JSON string. ``call_id`` is generated when empty."""

    name: str
    arguments: str = "{}"
    call_id: str = ""


ResponderEvent = TextDelta | FunctionCall


class Responder(Protocol):
    """Produces one response. Cancellation arrives as ``CancelledError`` at any ``await``."""

    def respond(self, request: ResponderRequest) -> AsyncIterator[ResponderEvent]:
        """Stream the response's text deltas and function calls, in output order."""
        ...
