"""The voice observer wired to a real session, with a loudness "VAD" and a scripted recognizer: the
orderings and races that real models make hard to pin down."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.engine.realtime_kit import EventReader, SlowResponder, tone
from voxgate.engine.assistants.responder import EchoResponder, Responder
from voxgate.engine.config import EngineConfig
from voxgate.engine.realtime.realtime_session import RealtimeSession
from voxgate.engine.realtime.session_config import default_session
from voxgate.engine.speech.base import Transcript
from voxgate.engine.voice.observer import voice_observer_factory

MS = 48  # bytes per ms of PCM16 24 kHz


class LoudnessVad:
    """Speech = a loud window."""

    sample_rate = 16000
    window_samples = 512

    def probability(self, window: bytes) -> float:
        return 0.95 if max(window[1::2]) > 10 else 0.02

    def reset(self) -> None:
        pass


class ScriptedRecognizer:
    """Says ``text`` (numbered when ``count``) after ``gate`` opens (when given) and after ``delays``
    (seconds, per call); raises when ``fail``."""

    def __init__(
        self,
        text: str = "hello there",
        *,
        texts: tuple[str, ...] = (),
        fail: bool = False,
        count: bool = False,
        delays: tuple[float, ...] = (),
    ) -> None:
        self.text = text
        self.texts = texts  # said by the first calls, in order, instead of `text`
        self.fail = fail
        self.count = count
        self.delays = delays
        self.gate: asyncio.Event | None = None
        self.calls: list[int] = []

    async def transcribe(
        self, pcm16: bytes, *, sample_rate: int = 16000, language: str | None = None
    ) -> Transcript:
        self.calls.append(len(pcm16) * 1000 // (2 * sample_rate))
        call = len(self.calls)
        if self.gate is not None:
            await self.gate.wait()
        if call <= len(self.delays):
            await asyncio.sleep(self.delays[call - 1])
        if self.fail:
            raise RuntimeError("model crashed")
        if call <= len(self.texts):
            return Transcript(self.texts[call - 1])
        return Transcript(f"{self.text} {call}" if self.count else self.text)


def silence(ms: int) -> bytes:
    return bytes(ms * MS)


def speech(ms: int) -> bytes:
    return tone(ms, amplitude=12000)


async def open_session(
    recognizer: ScriptedRecognizer, responder: Responder | None = None, **session: Any
) -> tuple[RealtimeSession, EventReader]:
    config = default_session("realtime", "gpt-realtime")
    config.update(output_modalities=["text"], **session)
    rt = RealtimeSession(
        config=EngineConfig(),
        session=config,
        transport="websocket",
        responder=responder or EchoResponder(),
        observer_factory=voice_observer_factory(LoudnessVad, recognizer),
    )
    inbox: asyncio.Queue[str] = asyncio.Queue()

    async def sink(text: str) -> None:
        inbox.put_nowait(text)

    rt.add_sink(sink)
    events = EventReader(inbox.get)
    await rt.start()
    await events.expect("session.created")
    return rt, events


async def test_a_burst_of_audio_commits_exactly_each_turn() -> None:
    # The first turn is transcribed at once, the second takes a while: still only the second is answered.
    recognizer = ScriptedRecognizer("turn", count=True, delays=(0.0, 0.3))
    transcription = {"transcription": {"model": "whisper-1"}, "turn_detection": {"type": "server_vad"}}
    audio = default_session("realtime", "m")["audio"]
    session, events = await open_session(
        recognizer, audio={**audio, "input": {**audio["input"], **transcription}}
    )
    try:
        # Everything arrives before the worker runs once: the decisions queue up behind the audio.
        session.feed_input_audio(silence(1000) + speech(1000) + silence(600) + speech(500) + silence(400))
        sequence = await events.until("response.done")
        types = [e["type"] for e in sequence]
        assert types[:8] == [
            "input_audio_buffer.speech_started",
            "input_audio_buffer.speech_stopped",
            "input_audio_buffer.committed",
            "conversation.item.added",
            "conversation.item.done",
            "input_audio_buffer.speech_started",
            "input_audio_buffer.speech_stopped",
            "input_audio_buffer.committed",
        ]
        first, second = sequence[0], sequence[5]
        assert abs(first["audio_start_ms"] - 1000) <= 40 and abs(sequence[1]["audio_end_ms"] - 2000) <= 40
        assert abs(second["audio_start_ms"] - 2600) <= 40 and abs(sequence[6]["audio_end_ms"] - 3100) <= 40
        # Each item holds its own turn: 300 ms of padding + the speech + the 200 ms that ended it.
        first_ms = session.conversation.audio_ms(first["item_id"])
        second_ms = session.conversation.audio_ms(second["item_id"])
        assert abs(first_ms - 1500) <= 70 and abs(second_ms - 1000) <= 70
        assert len(recognizer.calls) == 2  # once per turn
        # The user went on talking before the first turn was answered: only the second gets a reply.
        assert types.count("response.created") == 1
        completed = [
            e for e in sequence if e["type"] == "conversation.item.input_audio_transcription.completed"
        ]
        assert [e["transcript"] for e in completed] == ["turn 1", "turn 2"]
        assert sequence.index(completed[1]) < types.index("response.created")
        assert sequence[-1]["response"]["output"][0]["content"][0]["text"].startswith('You said: "turn 2"')
        await events.expect("rate_limits.updated")
        await events.nothing(0.2)
    finally:
        await session.aclose()


async def test_the_reply_waits_for_the_words() -> None:
    recognizer = ScriptedRecognizer("what time is it")
    recognizer.gate = asyncio.Event()
    session, events = await open_session(recognizer)
    try:
        session.feed_input_audio(silence(300) + speech(600) + silence(300))
        await events.until("conversation.item.done")
        await events.nothing(0.2)  # no response while the transcript is being made
        recognizer.gate.set()
        sequence = await events.until("response.done")
        assert sequence[0]["type"] == "response.created"
        assert sequence[-1]["response"]["output"][0]["content"][0]["text"].startswith(
            'You said: "what time is it"'
        )
    finally:
        await session.aclose()


async def test_failed_transcription_is_reported_and_not_answered() -> None:
    recognizer = ScriptedRecognizer(fail=True)
    transcription = {
        "input": {"transcription": {"model": "whisper-1"}, "turn_detection": {"type": "server_vad"}}
    }
    session, events = await open_session(
        recognizer, audio={**default_session("realtime", "m")["audio"], **transcription}
    )
    try:
        session.feed_input_audio(silence(300) + speech(600) + silence(300))
        sequence = await events.until("conversation.item.input_audio_transcription.failed")
        failed = sequence[-1]
        assert failed["item_id"] == sequence[0]["item_id"] and failed["content_index"] == 0
        assert failed["error"]["code"] == "transcription_failed"
        await events.nothing(0.3)
    finally:
        await session.aclose()


async def test_no_words_no_reply_and_barge_in_over_websocket() -> None:
    recognizer = ScriptedRecognizer("")
    session, events = await open_session(recognizer, responder=SlowResponder())
    try:
        session.feed_input_audio(silence(300) + speech(300) + silence(300))
        await events.until("conversation.item.done")
        await events.nothing(0.3)  # an empty transcript (a cough) gets no answer

        await session.create_response()
        await events.until("response.output_text.delta")
        assert session.responding
        session.feed_input_audio(speech(200))
        sequence = await events.until("response.done")
        assert sequence[0]["type"] == "input_audio_buffer.speech_started"
        assert sequence[-1]["response"]["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
    finally:
        await session.aclose()


async def test_words_deferred_by_more_speech_are_answered_even_if_that_was_a_noise() -> None:
    """ "Stop." then, before it is answered, a breath the detector takes for speech: the breath's turn
    has no words, but the user's words are still answered, once, when it ends."""
    recognizer = ScriptedRecognizer(texts=("stop", ""))
    recognizer.gate = asyncio.Event()  # the first transcript comes after the second turn has started
    session, events = await open_session(recognizer)
    try:
        session.feed_input_audio(silence(300) + speech(600) + silence(400) + speech(150) + silence(400))
        first = await events.until("input_audio_buffer.speech_started")
        second = await events.until("input_audio_buffer.speech_started")
        assert "input_audio_buffer.committed" in [e["type"] for e in second]
        await events.until("conversation.item.done")
        recognizer.gate.set()
        sequence = await events.until("response.done")
        assert sequence[0]["type"] == "response.created"
        reply = sequence[-1]["response"]["output"][0]["content"][0]["text"]
        assert reply.startswith('You said: "stop"'), reply
        assert first[-1]["item_id"] != second[-1]["item_id"]
        await events.expect("rate_limits.updated")
        await events.nothing(0.3)  # one reply, not two
    finally:
        await session.aclose()


async def test_events_are_valid_json_in_order() -> None:
    """The observer closes cleanly with work in flight, and everything it sent parses."""
    recognizer = ScriptedRecognizer()
    recognizer.gate = asyncio.Event()
    session, events = await open_session(recognizer)
    session.feed_input_audio(silence(300) + speech(600) + silence(300))
    await events.until("conversation.item.done")
    await session.aclose()  # transcription still waiting: cancelled, nothing leaks
    assert all(json.dumps(e) for e in events.seen)
