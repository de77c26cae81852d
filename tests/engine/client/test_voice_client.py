"""The Python client (``voxgate.client``) speaking espeak-ng sentences to the engine over WebRTC.

The whole voice path as a program would use it: turns detected and transcribed (word error rate over
several sentences), replies heard as sound with their transcripts, barge-in, the client's own
``response.cancel`` / ``output_audio_buffer.clear`` / ``conversation.item.truncate``, and hangup.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from tests.engine.conftest import API_KEY, EngineServer
from tests.engine.realtime_kit import check_server_event
from tests.engine.voice.test_voice_webrtc import voice_server
from tests.engine.voice_kit import SENTENCES, espeak, frame_rms
from voxgate.client import RealtimeClient
from voxgate.engine.speech.wer import word_error_rate

MakeServer = Callable[..., Awaitable[EngineServer]]
# Replies spoken at 1.5x (the session's own audio.output.speed, the fastest allowed): each is still heard
# in full and barged in on, in two thirds of the time (the test listens to four of them).
SESSION = {
    "type": "realtime",
    "audio": {"input": {"transcription": {"model": "whisper-1"}}, "output": {"speed": 1.5}},
}


async def events_until(client: RealtimeClient, event_type: str, within: float = 20.0) -> list[dict[str, Any]]:
    """Received events, each checked against the official types, up to the first of ``event_type``."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(within):
        while True:
            event = await client.receive()
            check_server_event(event)
            seen.append(event)
            if event["type"] == event_type:
                return seen


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def loud_ms(pcm: bytes, rate: int = 24000) -> int:
    """Milliseconds of clearly audible 20 ms frames in ``pcm``."""
    step = rate // 50 * 2
    return 20 * sum(frame_rms(pcm[i : i + step]) > 300 for i in range(0, len(pcm) - step + 1, step))


async def test_python_client_speaks_is_understood_answered_and_interrupts(make_server: MakeServer) -> None:
    server = await voice_server(make_server)
    client = RealtimeClient(f"{server.base_url}/realtime/calls", API_KEY, session=SESSION)
    await client.connect()
    try:
        audio = (await events_until(client, "session.created"))[-1]["session"]["audio"]
        assert audio["input"]["transcription"] and audio["output"]["speed"] == 1.5
        heard: list[str] = []
        for sentence in SENTENCES[:3]:
            client.remote_audio.take()
            client.microphone.play_pcm(espeak(sentence), 24000)
            client.microphone.play_silence(1.0)
            turn = await events_until(client, "response.done")
            order = types(turn)
            for expected in (
                "input_audio_buffer.speech_started",
                "input_audio_buffer.speech_stopped",
                "input_audio_buffer.committed",
                "conversation.item.added",
                "conversation.item.done",
                "conversation.item.input_audio_transcription.completed",
                "response.created",
            ):
                assert expected in order, (expected, order)
            assert order.index("input_audio_buffer.speech_started") < order.index(
                "input_audio_buffer.committed"
            )
            transcript = next(e for e in turn if e["type"].endswith("input_audio_transcription.completed"))
            heard.append(transcript["transcript"])
            response = turn[-1]["response"]
            assert response["status"] == "completed"
            spoken = response["output"][0]["content"][0]["transcript"]
            assert spoken.startswith("You said:")
            await events_until(client, "output_audio_buffer.stopped")
            assert loud_ms(client.remote_audio.take()) > 500  # the reply was heard, not just announced
        assert word_error_rate(SENTENCES[:3], heard) <= 0.15, heard

        # Barge-in: a long sentence gets a long reply; speaking over it cancels and truncates it.
        client.microphone.play_pcm(espeak(SENTENCES[1]), 24000)
        client.microphone.play_silence(1.0)
        await events_until(client, "output_audio_buffer.started")
        await asyncio.sleep(0.8)
        client.microphone.play_pcm(espeak("Stop please."), 24000)
        client.microphone.play_silence(1.0)
        interrupted = await events_until(client, "conversation.item.truncated")
        done = next(e for e in interrupted if e["type"] == "response.done")
        assert done["response"]["status"] == "cancelled"
        assert done["response"]["status_details"]["reason"] == "turn_detected"
        assert "output_audio_buffer.cleared" in types(interrupted)
        truncated = interrupted[-1]
        assert 0 < truncated["audio_end_ms"] < 8000

        # The interruption is a turn of its own: its reply starts; the client cancels, clears, truncates.
        reply = await events_until(client, "output_audio_buffer.started")
        item_id = next(e for e in reply if e["type"] == "response.output_item.added")["item"]["id"]
        client.send({"type": "response.cancel"})
        client.send({"type": "output_audio_buffer.clear"})
        # Both answers arrive; the protocol does not fix their order.
        cancelled = await events_until(client, "output_audio_buffer.cleared")
        if "response.done" not in types(cancelled):
            cancelled += await events_until(client, "response.done")
        done = next(e for e in cancelled if e["type"] == "response.done")
        assert done["response"]["status"] == "cancelled"
        assert done["response"]["status_details"]["reason"] == "client_cancelled"
        client.send(
            {"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": 0}
        )
        assert (await events_until(client, "conversation.item.truncated"))[-1]["item_id"] == item_id

        call_id = client.call_id
        assert call_id in server.engine._calls
        await client.hangup()
        assert call_id not in server.engine._calls
    finally:
        await client.aclose()
