"""A Live session as the voice pipeline sees it: the :class:`~voxgate.engine.ports.VoiceSession` port.

The pipeline plays the model's turn-taking. It always hears PCM16 24 kHz. Its decisions become GPT-Live
behaviour here: speech wakes a paused session (``session.resumed``), a finished turn's audio is handed
back for transcription, its words go out as ``session.input_transcript.delta`` on the turn's span of the
timeline and into the history, and the reply follows; speaking over a reply silences it at once
(there is no item to truncate in GPT-Live, so nothing more is said about the cut).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from voxgate.engine.ids import new_id
from voxgate.engine.live.conversation import input_transcript_deltas, message
from voxgate.engine.live.input_tape import InputTape
from voxgate.engine.live.reply import Replies
from voxgate.engine.live.settings import PCM_24K
from voxgate.engine.live.timeline import Standby, Timeline
from voxgate.engine.ports import FinishInterruption, Heard, InputAudioObserver
from voxgate.engine.turns import TurnParams
from voxgate.errors import InvalidRequest

__all__ = ["TURNS", "LiveVoice"]

# The engine plays the model's turn-taking with these (GPT-Live has no turn detection config): the GA
# server_vad defaults, so both protocols take turns alike on this engine.
TURNS = TurnParams(mode="server_vad", threshold=0.5, prefix_padding_ms=300, end_of_turn_ms=200)


async def _nothing_more() -> None:
    """A cut reply needs no more events."""


class LiveVoice:
    """The VoiceSession of one Live session; ``send`` puts an event on every channel."""

    def __init__(
        self,
        session_id: str,
        *,
        timeline: Timeline,
        standby: Standby,
        replies: Replies,
        tape: InputTape,
        wake_threshold: float,
        send: Callable[[Mapping[str, Any]], None],
    ) -> None:
        self.id = session_id
        self._timeline = timeline
        self._standby = standby
        self._replies = replies
        self._tape = tape
        self._wake = TurnParams(mode="server_vad", threshold=wake_threshold, end_of_turn_ms=200)
        self._send = send
        self.observer: InputAudioObserver | None = None  # set once the pipeline is built for this
        self.in_speech = False
        self._spans: dict[str, tuple[int, int]] = {}

    @property
    def turn_params(self) -> TurnParams | None:
        """The engine's turn-taking; while paused, speech must pass the wake policy's threshold."""
        return self._wake if self._standby.paused else TURNS

    @property
    def input_format(self) -> Mapping[str, Any]:
        """Always PCM16 24 kHz (a WebSocket session's format is converted before)."""
        return PCM_24K

    @property
    def transcription_language(self) -> str | None:
        """GPT-Live has no transcription setting: the recognizer detects or uses its default."""
        return None

    @property
    def replies_finished(self) -> int:
        """Replies over, their audio played."""
        return self._replies.finished

    @property
    def responding(self) -> bool:
        """True while a reply is written or its audio still plays."""
        return self._replies.running

    def new_turn_id(self) -> str:
        """Turns have no items in GPT-Live: an opaque key."""
        return new_id("turn")

    def stop_playback(self) -> FinishInterruption:
        """Barge-in: drop the queued reply audio and stop writing the reply, at once."""
        self._replies.interrupt()
        return _nothing_more

    async def speech_started(self, turn_id: str, audio_start_ms: int) -> None:
        """The user speaks: a paused session wakes."""
        self.in_speech = True
        self._spans[turn_id] = (audio_start_ms, audio_start_ms)
        if self._standby.wake(self._timeline.ms):
            self._send({"type": "session.resumed", "event_id": new_id("event")})

    async def speech_stopped(self, turn_id: str, audio_end_ms: int) -> None:
        """The turn's span is known; its commit follows."""
        self.in_speech = False
        self._standby.update(self._timeline.ms, busy=True)
        start, _ = self._spans.get(turn_id, (audio_end_ms, audio_end_ms))
        self._spans[turn_id] = (start, audio_end_ms)

    async def idle_timeout(self, turn_id: str, audio_start_ms: int, audio_end_ms: int) -> None:
        """Never asked for (the turn parameters have no idle timeout): GPT-Live pauses instead."""

    async def commit_input_audio(
        self, item_id: str | None = None, *, start_ms: float | None = None, end_ms: float | None = None
    ) -> str:
        """Hand the turn's span of input to the pipeline for transcription."""
        turn = item_id or self.new_turn_id()
        audio = self._tape.span(start_ms, end_ms)
        if not audio:
            self._spans.pop(turn, None)
            raise InvalidRequest("No input audio in the turn's span.", code="input_audio_buffer_commit_empty")
        if self.observer is not None:
            self.observer.on_committed(turn, audio)
        return turn

    def discard_input_audio(self, before_ms: float) -> None:
        """Input before ``before_ms`` will not be needed by a turn."""
        self._tape.discard_before(before_ms)

    def expect_transcript(self, turn_id: str) -> None:
        """Nothing waits on transcripts here: a reply is created after them."""

    async def transcribed(self, turn_id: str, heard: Heard) -> None:
        """The turn's words: input transcript deltas on the turn's span, and the history for replies."""
        now = self._timeline.now_ms
        start, end = self._spans.pop(turn_id, (now, now))
        words = (heard.text or "").split()
        if words:
            self._replies.history.append(message("user", " ".join(words)))
            for event in input_transcript_deltas(words, start, end):
                self._send(event)

    async def create_response(self) -> str:
        """Answer the conversation so far (the model's reply); one at a time."""
        reply_id = new_id("reply")
        self._replies.start(what=f"reply {reply_id}")
        return reply_id
