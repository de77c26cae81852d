"""The voice pipeline over WebRTC: an aiortc caller speaks espeak-ng sentences into its mic track, hears
the reply on the engine's track, barges in, and controls the reply with client events."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from typing import Any

from openai import AsyncOpenAI

from tests.engine.conftest import EngineServer
from tests.engine.rtc.test_webrtc import start_call, wait_for
from tests.engine.voice_kit import SENTENCES, SpeakingMic, TimedRtcClient, espeak, recognizer, speech_edges
from voxgate.engine.speech.tts import EspeakSynthesizer
from voxgate.engine.speech.vad import SileroModel
from voxgate.engine.speech.wer import word_error_rate
from voxgate.engine.voice.observer import voice_observer_factory

MakeServer = Callable[..., Awaitable[EngineServer]]
Timed = list[tuple[float, dict[str, Any]]]


async def voice_server(make_server: MakeServer) -> EngineServer:
    return await make_server(
        observer_factory=voice_observer_factory(SileroModel().detector, recognizer()),
        synthesizer=EspeakSynthesizer(),
    )


async def timed_until(rtc: TimedRtcClient, event_type: str, within: float = 15.0) -> Timed:
    """Events (with their arrival times) up to and including the first of ``event_type``."""
    out: Timed = []
    deadline = time.monotonic() + within
    while True:
        event = await rtc.events.next(max(0.01, deadline - time.monotonic()))
        out.append((time.monotonic(), event))
        if event["type"] == event_type:
            return out


def first(events: Timed, event_type: str) -> tuple[float, dict[str, Any]]:
    return next((t, e) for t, e in events if e["type"] == event_type)


async def spoken_ms(text: str) -> float:
    """How long the engine's synthesizer speaks ``text``."""
    chunks = [c async for c in EspeakSynthesizer().synthesize(text)]
    return sum(len(c) for c in chunks) / 48


async def test_turn_reply_and_barge_in(make_server: MakeServer) -> None:
    server = await voice_server(make_server)
    mic = SpeakingMic()
    rtc = TimedRtcClient(mic=mic)
    try:
        async with server.client() as sdk:
            session = {"type": "realtime", "audio": {"input": {"transcription": {"model": "whisper-1"}}}}
            await start_call(sdk, rtc, session)
        await rtc.events.expect("session.created")
        await asyncio.sleep(0.4)
        speech = espeak(SENTENCES[1])
        edge_start, edge_end = speech_edges(speech)
        said = mic.say(speech)

        # The user's turn: detected, committed, transcribed, answered.
        turn = await timed_until(rtc, "output_audio_buffer.started")
        types = [e["type"] for _, e in turn]
        order = [
            "input_audio_buffer.speech_started",
            "input_audio_buffer.speech_stopped",
            "input_audio_buffer.committed",
            "conversation.item.added",
            "conversation.item.done",
            "conversation.item.input_audio_transcription.completed",
            "response.created",
            "response.content_part.added",
            "output_audio_buffer.started",
        ]
        assert [types.index(t) for t in order] == sorted(types.index(t) for t in order), types
        started, stopped = (
            first(turn, "input_audio_buffer.speech_started")[1],
            first(turn, "input_audio_buffer.speech_stopped")[1],
        )
        # Stream positions can't be compared across the call (the first packets' timing), durations can.
        assert abs((stopped["audio_end_ms"] - started["audio_start_ms"]) - (edge_end - edge_start)) <= 200
        assert said.done
        transcript = first(turn, "conversation.item.input_audio_transcription.completed")[1]["transcript"]
        assert word_error_rate(SENTENCES[1], transcript) <= 0.3, transcript
        response_id = first(turn, "response.created")[1]["response"]["id"]

        # The reply is heard, its transcript sentence by sentence as each sentence starts to play.
        await wait_for(lambda: rtc.first_sound_after(said.ended_at) is not None)
        heard_at = rtc.first_sound_after(said.ended_at)
        assert heard_at is not None
        reply = await timed_until(rtc, "response.output_audio_transcript.delta")
        await asyncio.sleep(1.2)
        reply += await timed_until(rtc, "response.output_audio_transcript.delta")
        (caption1_at, caption1), (caption2_at, caption2) = [
            (t, e) for t, e in reply if e["type"] == "response.output_audio_transcript.delta"
        ]
        assert caption1["delta"] == "You said:"
        assert abs(heard_at - caption1_at) < 0.3  # with the audio, not ahead of it
        assert caption2_at - caption1_at > 0.4  # the second sentence waited for its audio
        assert caption2["delta"].startswith(' "')

        # Barge-in: the user speaks again while the reply plays.
        mic.say(espeak(SENTENCES[0]))
        cut = await timed_until(rtc, "conversation.item.truncated")
        types = [e["type"] for _, e in cut]
        assert types.index("input_audio_buffer.speech_started") < types.index("output_audio_buffer.cleared")
        cleared_at, cleared = first(cut, "output_audio_buffer.cleared")
        assert cleared["response_id"] == response_id
        done = first(cut, "response.done")[1]["response"]
        assert done["id"] == response_id and done["status"] == "cancelled"
        assert done["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
        truncated = cut[-1][1]
        item = done["output"][0]
        assert truncated["item_id"] == item["id"] and truncated["content_index"] == 0
        full_ms = await spoken_ms(f'You said: "{transcript}". I am the voxgate echo assistant.')
        assert 0 < truncated["audio_end_ms"] < full_ms - 500
        # Played ≈ from the first sound to the clear, as the caller heard it.
        assert abs(truncated["audio_end_ms"] - (cleared_at - heard_at) * 1000) < 400

        # The track fell silent within 150 ms of the clear (measured on what arrived).
        await asyncio.sleep(1.0)
        sounds = [t for t, level in rtc.frames if cleared_at - 2 < t < cleared_at + 1 and level > 50]
        assert sounds and sounds[-1] - cleared_at < 0.15, sounds[-1] - cleared_at

        # The item keeps the audio and the words that were heard.
        rtc.send({"type": "conversation.item.retrieve", "item_id": item["id"]})
        retrieved = (await rtc.events.until("conversation.item.retrieved"))[-1]["item"]
        part = retrieved["content"][0]
        assert len(base64.b64decode(part["audio"])) == truncated["audio_end_ms"] * 48
        assert part["transcript"].startswith("You said:")
        assert len(part["transcript"]) < len(item["content"][0]["transcript"]) + 1
        assert f'You said: "{transcript}". I am'.startswith(part["transcript"])

        # The interrupting turn is a turn like any other.
        await rtc.events.until("conversation.item.input_audio_transcription.completed")
    finally:
        await rtc.close()


async def test_push_to_talk_cancel_clear_truncate_and_hangup(make_server: MakeServer) -> None:
    server = await voice_server(make_server)
    mic = SpeakingMic()
    rtc = TimedRtcClient(mic=mic)
    client: AsyncOpenAI
    try:
        async with server.client() as client:
            session = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}
            call_id = await start_call(client, rtc, session)
            await rtc.events.expect("session.created")
            # The engine decodes the caller's audio after 1 packet of reordering room, not aiortc's 4.
            (transceiver,) = server.engine.call(call_id)._pc.getTransceivers()
            assert transceiver.receiver._RTCRtpReceiver__jitter_buffer._prefetch == 1  # type: ignore[attr-defined]
            said = mic.say(espeak(SENTENCES[2]))
            await wait_for(lambda: said.done, within=8)
            await asyncio.sleep(0.2)
            await rtc.events.nothing(0.1)  # no turn detection: nothing happened by itself
            rtc.send({"type": "input_audio_buffer.commit"})
            rtc.send({"type": "response.create"})
            sequence = await timed_until(rtc, "response.output_audio_transcript.delta")
            response = first(sequence, "response.created")[1]["response"]
            item_id = first(sequence, "response.output_item.added")[1]["item"]["id"]
            await asyncio.sleep(0.3)

            rtc.send({"type": "response.cancel"})
            tail = await rtc.events.until("response.done")
            done = tail[-1]["response"]
            assert (done["id"], done["status"]) == (response["id"], "cancelled")
            assert done["status_details"]["reason"] == "client_cancelled"
            heard = done["output"][0]["content"][0]["transcript"]
            assert heard.startswith("You said:")  # what had started to play, no more
            await rtc.events.expect("rate_limits.updated")

            rtc.send({"type": "output_audio_buffer.clear"})
            cleared = await rtc.events.expect("output_audio_buffer.cleared")
            assert cleared["response_id"] == response["id"]
            cleared_at = time.monotonic()
            rtc.send(
                {
                    "type": "conversation.item.truncate",
                    "item_id": item_id,
                    "content_index": 0,
                    "audio_end_ms": 300,
                }
            )
            truncated = await rtc.events.expect("conversation.item.truncated")
            assert (truncated["item_id"], truncated["audio_end_ms"]) == (item_id, 300)
            rtc.send({"type": "conversation.item.retrieve", "item_id": item_id})
            item = (await rtc.events.expect("conversation.item.retrieved"))["item"]
            assert item["content"][0]["transcript"] == ""  # a client's truncate drops the transcript
            await asyncio.sleep(0.4)
            last = rtc.last_sound()
            assert last is not None and last - cleared_at < 0.15

            await client.realtime.calls.hangup(call_id)
            await wait_for(lambda: rtc.pc.connectionState == "closed" and not server.engine._calls)
    finally:
        await rtc.close()
