"""The voice pipeline over WebSocket with the official SDK: espeak-ng speech appended as base64 PCM16
faster than real time, real Silero VAD and Whisper tiny.en, the echo assistant answering."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

from openai import AsyncOpenAI

from tests.engine.conftest import EngineServer
from tests.engine.realtime_kit import EventReader, rms, sdk_reader
from tests.engine.voice_kit import SENTENCES, espeak, recognizer, silence, speech_edges
from voxgate.engine.audio import pcm16_to_b64
from voxgate.engine.speech.vad import SileroModel
from voxgate.engine.speech.wer import word_error_rate
from voxgate.engine.voice.observer import voice_observer_factory

MakeServer = Callable[..., Awaitable[EngineServer]]
CHUNK_MS = 40
EDGE_TOLERANCE_MS = 150


async def voice_server(make_server: MakeServer) -> EngineServer:
    return await make_server(observer_factory=voice_observer_factory(SileroModel().detector, recognizer()))


async def append(conn: Any, pcm: bytes, chunk_ms: int = CHUNK_MS) -> None:
    step = 48 * chunk_ms
    for start in range(0, len(pcm), step):
        await conn.input_audio_buffer.append(audio=pcm16_to_b64(pcm[start : start + step]))


def index(sequence: list[dict[str, Any]], event_type: str) -> int:
    return next(i for i, e in enumerate(sequence) if e["type"] == event_type)


async def test_spoken_turns_are_detected_transcribed_and_answered(make_server: MakeServer) -> None:
    server = await voice_server(make_server)
    async with server.client() as sdk, sdk.realtime.connect(model="gpt-realtime") as conn:
        events = sdk_reader(conn)
        await events.expect("session.created")
        await conn.session.update(
            session={"type": "realtime", "audio": {"input": {"transcription": {"model": "whisper-1"}}}}
        )
        session = (await events.expect("session.updated"))["session"]
        assert session["audio"]["input"]["turn_detection"]["silence_duration_ms"] == 200

        stream_ms = 0.0
        heard: list[str] = []
        for sentence in SENTENCES:
            speech = espeak(sentence)
            first, last = speech_edges(speech)
            lead, tail = silence(700), silence(900)
            await append(conn, lead + speech + tail)
            sequence = await events.until("response.done", within=20)
            types = [e["type"] for e in sequence]

            started = sequence[index(sequence, "input_audio_buffer.speech_started")]
            stopped = sequence[index(sequence, "input_audio_buffer.speech_stopped")]
            assert abs(started["audio_start_ms"] - (stream_ms + 700 + first)) <= EDGE_TOLERANCE_MS, started
            assert abs(stopped["audio_end_ms"] - (stream_ms + 700 + last)) <= EDGE_TOLERANCE_MS, stopped
            stream_ms += (len(lead) + len(speech) + len(tail)) / 48
            item_id = started["item_id"]
            assert stopped["item_id"] == item_id

            # The order of reference §4.4, then the transcript, then the answer.
            order = [
                "input_audio_buffer.speech_started",
                "input_audio_buffer.speech_stopped",
                "input_audio_buffer.committed",
                "conversation.item.added",
                "conversation.item.done",
                "conversation.item.input_audio_transcription.delta",
                "conversation.item.input_audio_transcription.completed",
                "response.created",
            ]
            assert [index(sequence, t) for t in order] == sorted(index(sequence, t) for t in order), types
            committed = sequence[index(sequence, "input_audio_buffer.committed")]
            added = sequence[index(sequence, "conversation.item.added")]
            assert committed["item_id"] == added["item"]["id"] == item_id
            assert added["item"]["content"] == [{"type": "input_audio", "transcript": None}]
            deltas = [e for e in sequence if e["type"] == "conversation.item.input_audio_transcription.delta"]
            completed = sequence[index(sequence, "conversation.item.input_audio_transcription.completed")]
            assert "".join(d["delta"] for d in deltas) == completed["transcript"]
            assert completed["usage"]["type"] == "duration"
            assert 0.9 * len(speech) / 48000 < completed["usage"]["seconds"] < (len(speech) + 96000) / 48000
            heard.append(completed["transcript"])

            # The answer repeats the words, with audio.
            done = sequence[-1]["response"]
            assert done["status"] == "completed"
            answer = done["output"][0]["content"][0]["transcript"]
            assert answer.startswith(f'You said: "{completed["transcript"]}"')
            spoken = b"".join(
                base64.b64decode(e["delta"]) for e in sequence if e["type"] == "response.output_audio.delta"
            )
            assert len(spoken) > 48 * 1000 and rms(spoken) > 1000
            await events.expect("rate_limits.updated")

            # The item now holds its transcript (the Agents SDK retrieves it after `completed`).
            await conn.conversation.item.retrieve(item_id=item_id)
            item = (await events.expect("conversation.item.retrieved"))["item"]
            assert item["content"][0]["transcript"] == completed["transcript"]
            committed_ms = len(base64.b64decode(item["content"][0]["audio"])) / 48
            # The turn: prefix padding + speech + the end-of-turn silence, not the whole stream.
            assert last - first + 300 < committed_ms < last - first + 300 + 200 + 250

        assert word_error_rate(SENTENCES, heard) <= 0.15, heard


async def test_push_to_talk_semantic_vad_and_idle_timeout(make_server: MakeServer) -> None:
    server = await voice_server(make_server)
    async with server.client() as sdk, sdk.realtime.connect(model="gpt-realtime") as conn:
        events = sdk_reader(conn)
        await events.expect("session.created")

        # turn_detection null: nothing automatic; the client commits and asks for the answer itself,
        # back to back. Transcription is off, yet the answer knows the words.
        await conn.session.update(
            session={
                "type": "realtime",
                "audio": {"input": {"turn_detection": None}},
                "output_modalities": ["text"],
            }
        )
        await events.expect("session.updated")
        await append(conn, silence(300) + espeak(SENTENCES[0]) + silence(300))
        await events.nothing(0.3)
        await conn.input_audio_buffer.commit()
        await conn.response.create()
        sequence = await events.until("response.done", within=15)
        assert [e["type"] for e in sequence][:3] == [
            "input_audio_buffer.committed",
            "conversation.item.added",
            "conversation.item.done",
        ]
        assert not [e for e in sequence if "transcription" in e["type"]]
        answer = sequence[-1]["response"]["output"][0]["content"][0]["text"]
        assert word_error_rate(SENTENCES[0], answer.split('"')[1]) <= 0.3, answer
        await events.expect("rate_limits.updated")
        await conn.conversation.item.retrieve(item_id=sequence[0]["item_id"])
        assert (await events.expect("conversation.item.retrieved"))["item"]["content"][0][
            "transcript"
        ] is None

        # semantic_vad, eager, without automatic responses: the turn is committed and transcribed only.
        await conn.session.update(
            session={
                "type": "realtime",
                "audio": {
                    "input": {
                        "turn_detection": {
                            "type": "semantic_vad",
                            "eagerness": "high",
                            "create_response": False,
                        },
                        "transcription": {"model": "gpt-4o-mini-transcribe"},
                    }
                },
            }
        )
        await events.expect("session.updated")
        await append(conn, silence(500) + espeak(SENTENCES[2]) + silence(700))
        sequence = await events.until("conversation.item.input_audio_transcription.completed", within=15)
        completed = sequence[-1]
        assert completed["usage"]["type"] == "tokens"
        assert word_error_rate(SENTENCES[2], completed["transcript"]) <= 0.2
        await events.nothing(0.5)

        # server_vad with an idle timeout: after the assistant's reply, silence triggers a response.
        await conn.session.update(
            session={
                "type": "realtime",
                "audio": {"input": {"turn_detection": {"type": "server_vad", "idle_timeout_ms": 600}}},
            }
        )
        await events.expect("session.updated")
        await conn.response.create()
        await events.until("rate_limits.updated", within=10)
        await append(conn, silence(1000))
        sequence = await events.until("response.done", within=10)
        timeout = sequence[0]
        assert timeout["type"] == "input_audio_buffer.timeout_triggered", sequence[0]
        assert 550 <= timeout["audio_end_ms"] - timeout["audio_start_ms"] <= 700
        assert [e["type"] for e in sequence[1:4]] == [
            "input_audio_buffer.committed",
            "conversation.item.added",
            "conversation.item.done",
        ]
        assert sequence[1]["item_id"] == timeout["item_id"]
        assert not [e for e in sequence if "transcription" in e["type"]]  # silence is not transcribed
        assert sequence[-1]["response"]["status"] == "completed"


async def test_barge_in_over_websocket_cancels_the_reply(make_server: MakeServer) -> None:
    """Over WebSocket the client plays the audio, so a barge-in only cancels the response in flight."""
    from tests.engine.realtime_kit import SlowResponder

    server = await make_server(
        observer_factory=voice_observer_factory(SileroModel().detector, recognizer()),
        responder=SlowResponder(),
    )
    client: AsyncOpenAI
    async with server.client() as client, client.realtime.connect(model="gpt-realtime") as conn:
        events: EventReader = sdk_reader(conn)
        await events.expect("session.created")
        await conn.response.create()
        await events.until("response.output_audio_transcript.delta")
        await append(conn, silence(200) + espeak(SENTENCES[0])[: 48 * 600])
        sequence = await events.until("response.done", within=10)
        assert sequence[0]["type"] == "input_audio_buffer.speech_started"
        done = sequence[-1]["response"]
        assert done["status"] == "cancelled"
        assert done["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
        assert "output_audio_buffer.cleared" not in [e["type"] for e in sequence]  # WebRTC only


async def test_transcription_session(make_server: MakeServer) -> None:
    """``?intent=transcription``: turns are detected and transcribed, never answered."""
    server = await voice_server(make_server)
    async with (
        server.client() as sdk,
        sdk.realtime.connect(model="gpt-realtime", extra_query={"intent": "transcription"}) as conn,
    ):
        events = sdk_reader(conn)
        assert (await events.expect("session.created"))["session"]["type"] == "transcription"
        await conn.session.update(
            session={"type": "transcription", "audio": {"input": {"transcription": {"model": "whisper-1"}}}}
        )
        await events.expect("session.updated")
        await append(conn, silence(400) + espeak(SENTENCES[1]) + silence(600))
        sequence = await events.until("conversation.item.input_audio_transcription.completed", within=15)
        assert sequence[0]["type"] == "input_audio_buffer.speech_started"
        assert word_error_rate(SENTENCES[1], sequence[-1]["transcript"]) <= 0.2
        await events.nothing(0.5)
