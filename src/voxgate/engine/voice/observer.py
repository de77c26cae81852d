"""The voice pipeline of one session, plugged in as its :class:`~voxgate.engine.ports.InputAudioObserver`.

```
on_audio ─▶ InputResampler ─▶ VadStage ─▶ TurnDetector ─▶ decisions ─▶ worker task ─▶ session events
(sync)      24k/G.711→16k     Silero       server/semantic   │ speech start: stop playback now
                                                             ▼
on_committed ─▶ Transcriber (once per turn, in a thread) ─▶ transcript ─▶ create_response
```

The stages run synchronously inside ``on_audio``, so a decision is taken while the audio proving it is
handled; the one thing that cannot wait, silencing the assistant on barge-in, happens right there
(``session.stop_playback()``). Everything the session reports runs in order on one worker task: speech
started (then the rest of the interruption, in the protocol's terms), speech stopped and the commit of
exactly the turn's span of the input stream, idle timeouts. Every commit, the client's own included, is
transcribed once; a turn the detector committed then gets a response (``create_response``) once its
words are known, unless the user has started speaking again.

The pipeline knows only :class:`~voxgate.engine.ports.VoiceSession`: the GA Realtime session and the
GPT-Live session both drive it, each telling its client what the decisions mean in its own events.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from voxgate.engine.ports import FinishInterruption, InputObserverFactory, VoiceSession
from voxgate.engine.speech.base import SpeechRecognizer, VoiceActivityDetector
from voxgate.engine.tasks import TaskOwner
from voxgate.engine.voice.frames import (
    Frame,
    IdleTimeoutFrame,
    InputAudioFrame,
    SpeechStartedFrame,
    SpeechStoppedFrame,
)
from voxgate.engine.voice.input_audio import InputResampler
from voxgate.engine.voice.pipeline import Pipeline
from voxgate.engine.voice.transcriber import Transcriber, has_words
from voxgate.engine.voice.turn_detector import TurnDetector, TurnParams
from voxgate.engine.voice.vad_stage import VadStage
from voxgate.errors import InvalidRequest

__all__ = ["VoiceObserver", "voice_observer_factory"]

log = logging.getLogger(__name__)
# Uncommitted input older than what a turn could need is dropped in steps of this much.
TRIM_STEP_MS = 1000.0


def voice_observer_factory(
    vad_factory: Callable[[], VoiceActivityDetector],
    recognizer: SpeechRecognizer,
    *,
    min_speech_ms: float = 64.0,
) -> InputObserverFactory[VoiceSession]:
    """The factory ``Engine(observer_factory=...)`` takes: a fresh VAD per session (it has state), one
    shared recognizer (load it once; it serialises its own calls)."""

    def build(session: VoiceSession) -> VoiceObserver:
        return VoiceObserver(session, vad_factory(), recognizer, min_speech_ms=min_speech_ms)

    return build


class VoiceObserver:
    """Turn detection, barge-in and transcription for one session; the session owns and closes it."""

    def __init__(
        self,
        session: VoiceSession,
        vad: VoiceActivityDetector,
        recognizer: SpeechRecognizer,
        *,
        min_speech_ms: float = 64.0,
    ) -> None:
        self._session = session
        self._input = InputResampler()
        self.turns = TurnDetector(self.params, busy=self._assistant_busy, min_speech_ms=min_speech_ms)
        self.pipeline = Pipeline([self._input, VadStage(vad), self.turns])
        self._transcriber = Transcriber(recognizer)
        self._decisions: asyncio.Queue[tuple[Frame, str, FinishInterruption | None]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._tasks = TaskOwner(f"voice of session {session.id}")
        self._turn_item: str | None = None  # the item announced by speech_started
        self._holds: dict[str, float] = {}  # decided commits not done yet: item -> first ms they need
        self._respond: dict[str, bool] = {}  # detector commits: respond once transcribed?
        self._revoked: set[str] = set()  # commits whose reply the user's next turn called off
        self._owed = False  # a revoked turn had words: the next turn is answered even without any
        self._silent: set[str] = set()  # idle-timeout commits: nothing to transcribe
        self._trimmed_ms = 0.0
        self._replies_seen = 0
        self._closed = False

    def params(self) -> TurnParams | None:
        """The session's turn detection settings right now (None when off; parsed once per update)."""
        return self._session.turn_params

    def _assistant_busy(self) -> bool:
        """For the idle timeout. A reply that came and went between two windows (WebSocket clients send
        no audio while it runs) still shows as one busy window, so the silence is counted from its end."""
        if self._session.replies_finished != self._replies_seen:
            self._replies_seen = self._session.replies_finished
            return True
        return self._session.responding

    # ---- synchronous side: the audio path ----------------------------------------------------------

    def on_audio(self, pcm: bytes) -> None:
        """Run a chunk through the pipeline and act on its decisions (see the module docstring)."""
        if self._closed:
            return
        for frame in self.pipeline.push(InputAudioFrame(pcm, self._session.input_format)):
            self._decide(frame)
        self._trim()

    def _decide(self, frame: Frame) -> None:
        cut: FinishInterruption | None = None
        if isinstance(frame, SpeechStartedFrame):
            item_id = self._turn_item = self._session.new_turn_id()
            params = self.params()
            if params is not None and params.interrupt_response:
                cut = self._session.stop_playback()  # now, not after the queue: not one more frame
                # The user goes on talking: no reply to the turns before, yet; the next one answers them.
                self._revoked.update(item for item, respond in self._respond.items() if respond)
                self._respond = dict.fromkeys(self._respond, False)
        elif isinstance(frame, SpeechStoppedFrame):
            item_id, self._turn_item = self._turn_item or self._session.new_turn_id(), None
            params = self.params()
            self._holds[item_id] = frame.audio_start_ms - (params.prefix_padding_ms if params else 0)
            # Decided here, in stream order, so a later speech start (also decided here) can revoke it.
            self._respond[item_id] = params is not None and params.create_response
        elif isinstance(frame, IdleTimeoutFrame):
            item_id = self._session.new_turn_id()
            self._holds[item_id] = frame.audio_start_ms
        else:
            return
        self._decisions.put_nowait((frame, item_id, cut))
        if self._worker is None:
            self._worker = asyncio.ensure_future(self._work())

    def _trim(self) -> None:
        params = self.params()
        if params is None:
            return
        keep = min([self.turns.keep_from_ms(self._input.position_ms, params), *self._holds.values()])
        if keep - self._trimmed_ms >= TRIM_STEP_MS:
            self._session.discard_input_audio(keep)
            self._trimmed_ms = keep

    def on_committed(self, item_id: str, audio: bytes) -> None:
        """Transcribe every committed turn once (then respond, for the detector's own turns)."""
        if self._closed or item_id in self._silent:
            self._silent.discard(item_id)
            return
        self._session.expect_transcript(item_id)
        self._spawn(self._transcribe(item_id, audio, self._session.input_format))

    # ---- asynchronous side: events, in order ----------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        self._tasks.spawn(coro, getattr(coro, "__qualname__", "a task"))

    async def _work(self) -> None:
        while True:
            frame, item_id, cut = await self._decisions.get()
            try:
                await self._handle(frame, item_id, cut)
            except Exception:  # a failing stage must not end the call
                log.exception("voice pipeline: handling %s failed", type(frame).__name__)
            finally:
                if not isinstance(frame, SpeechStartedFrame):  # the commits hold audio, not the starts
                    self._holds.pop(item_id, None)

    async def _handle(self, frame: Frame, item_id: str, cut: FinishInterruption | None) -> None:
        session = self._session
        if isinstance(frame, SpeechStartedFrame):
            await session.speech_started(item_id, frame.audio_start_ms)
            if cut is not None:
                await cut()
        elif isinstance(frame, SpeechStoppedFrame):
            await session.speech_stopped(item_id, frame.audio_end_ms)
            await self._commit(item_id, self._holds.get(item_id), frame.at_ms)
        elif isinstance(frame, IdleTimeoutFrame):
            await session.idle_timeout(item_id, frame.audio_start_ms, frame.audio_end_ms)
            self._silent.add(item_id)
            if await self._commit(item_id, frame.audio_start_ms, frame.audio_end_ms):
                await self._create_response()

    async def _commit(self, item_id: str, start_ms: float | None, end_ms: float) -> bool:
        try:
            await self._session.commit_input_audio(item_id, start_ms=start_ms, end_ms=end_ms)
        except InvalidRequest as exc:  # e.g. the client cleared the buffer meanwhile
            log.info("voice pipeline: turn %s not committed: %s", item_id, exc.message)
            self._respond.pop(item_id, None)
            self._revoked.discard(item_id)
            self._silent.discard(item_id)
            return False
        return True

    async def _transcribe(self, item_id: str, audio: bytes, audio_format: Mapping[str, object]) -> None:
        text = await self._transcriber.transcribe(self._session, item_id, audio, audio_format)
        respond = self._respond.pop(item_id, False)
        if item_id in self._revoked:
            self._revoked.discard(item_id)
            self._owed = self._owed or has_words(text)
        # No words (noise, a cough): nothing to answer, unless words before it are still unanswered
        # ("Stop." then a breath the detector took for more speech). Speaking again defers the reply.
        if respond and (has_words(text) or self._owed):
            self._owed = False
            await self._create_response()

    async def _create_response(self) -> None:
        try:
            await self._session.create_response()
        except InvalidRequest as exc:  # a response still runs (interrupt_response is off)
            log.info("voice pipeline: no automatic response: %s", exc.message)

    async def aclose(self) -> None:
        """Stop the worker and any transcription in flight. Idempotent."""
        self._closed = True
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        await self._tasks.aclose()
