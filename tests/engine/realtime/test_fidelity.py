"""Fidelity: cancelled items are incomplete, WebRTC items keep what was played however the reply was cut,
and session.updated shows the full effective configuration."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from openai import AsyncOpenAI

from tests.engine.conftest import EngineServer
from tests.engine.realtime_kit import RtcClient, ToneSynthesizer, sdk_reader, tone
from voxgate.engine.assistants.responder import EchoResponder, ResponderEvent, ResponderRequest, TextDelta
from voxgate.engine.realtime.conversation import Conversation
from voxgate.engine.realtime.realtime_session import RealtimeSession
from voxgate.engine.realtime.response import ResponseRun
from voxgate.engine.realtime.response_plan import plan_response
from voxgate.engine.realtime.session_config import default_session
from voxgate.engine.realtime.settings import SessionSettings
from voxgate.engine.realtime.usage import RateWindow

MakeServer = Callable[..., Awaitable[EngineServer]]
LONG = " ".join(["word"] * 40)  # 40 words: 4 s of tone, far longer than any test waits


class CancelsAtTheEnd:
    """A synthesizer whose last chunk comes with a cancel of the response: the cancel lands as the last
    words go out, after the responder finished."""

    def __init__(self) -> None:
        self.run: ResponseRun | None = None

    async def synthesize(
        self, text: str, *, voice: str | None = None, speed: float = 1.0
    ) -> AsyncIterator[bytes]:
        yield tone(100)
        assert self.run is not None
        self.run.cancel()


async def test_a_cancel_landing_as_the_last_words_go_out_leaves_the_item_incomplete() -> None:
    conversation = Conversation()
    conversation.insert(
        {"id": "item_u", "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    )
    events: list[dict[str, Any]] = []

    async def emit(event: dict[str, Any]) -> None:
        events.append(event)

    synth = CancelsAtTheEnd()
    settings = SessionSettings.from_config(default_session("realtime", "gpt-realtime"))
    plan = plan_response(settings, {}, conversation)
    run = ResponseRun(
        plan, responder=EchoResponder(), emit=emit, rate_window=RateWindow(1000), synthesizer=synth
    )
    synth.run = run
    await run.run()
    done = next(e for e in events if e["type"] == "response.done")["response"]
    assert done["status"] == "cancelled"
    assert done["output"][0]["status"] == "incomplete"
    item_done = next(e for e in events if e["type"] == "response.output_item.done")["item"]
    assert item_done["status"] == "incomplete"
    assert conversation.get(item_done["id"])["status"] == "incomplete"


async def _speaking_call(server: EngineServer) -> tuple[RtcClient, RealtimeSession, str, str]:
    """A WebRTC call whose assistant is speaking a long reply; returns (rtc, session, response, item)."""
    rtc = RtcClient()
    call_id = await server.call(rtc)
    session = server.engine.call(call_id).session
    assert session is not None
    await rtc.events.expect("session.created")
    rtc.send(
        {
            "type": "conversation.item.create",
            "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": LONG}]},
        }
    )
    rtc.send({"type": "response.create"})
    events = await rtc.events.until("output_audio_buffer.started")
    response_id = next(e for e in events if e["type"] == "response.created")["response"]["id"]
    item_id = next(e for e in events if e["type"] == "response.output_item.added")["item"]["id"]
    await asyncio.sleep(0.4)  # a few hundred ms of it are heard
    return rtc, session, response_id, item_id


async def _retrieved_audio_ms(rtc: RtcClient, item_id: str) -> tuple[int, dict[str, Any]]:
    rtc.send({"type": "conversation.item.retrieve", "item_id": item_id})
    item = (await rtc.events.until("conversation.item.retrieved"))[-1]["item"]
    audio = item["content"][0].get("audio")
    return (len(base64.b64decode(audio)) // 48 if audio else 0), item


async def test_webrtc_cancel_keeps_only_what_was_played(server: EngineServer) -> None:
    rtc, session, response_id, item_id = await _speaking_call(server)
    try:
        rtc.send({"type": "response.cancel"})
        done = (await rtc.events.until("response.done"))[-1]["response"]
        assert (done["id"], done["status"]) == (response_id, "cancelled")
        assert done["output"][0]["status"] == "incomplete"
        await rtc.events.until("output_audio_buffer.stopped")  # what had started played out
        audio_ms, item = await _retrieved_audio_ms(rtc, item_id)
        played = session._out.buffer.played_ms(item_id)  # type: ignore[attr-defined]
        assert item["status"] == "incomplete"
        assert 0 < audio_ms == played < 4000  # what was heard, not the 4 s synthesized
    finally:
        await rtc.close()


async def test_webrtc_cancel_then_clear_keeps_only_what_was_played(server: EngineServer) -> None:
    rtc, session, response_id, item_id = await _speaking_call(server)
    try:
        rtc.send({"type": "response.cancel"})
        rtc.send({"type": "output_audio_buffer.clear"})
        seen = await rtc.events.until("output_audio_buffer.cleared")
        assert seen[-1]["response_id"] == response_id
        done = next(e for e in [*seen, *await _until_done(rtc, seen)] if e["type"] == "response.done")
        assert done["response"]["status"] == "cancelled"
        await asyncio.sleep(0.1)
        audio_ms, item = await _retrieved_audio_ms(rtc, item_id)
        played = session._out.buffer.played_ms(item_id)  # type: ignore[attr-defined]
        assert item["status"] == "incomplete"
        assert 0 < audio_ms == played < 4000  # what was heard, not the 4 s synthesized
    finally:
        await rtc.close()


async def _until_done(rtc: RtcClient, seen: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if any(e["type"] == "response.done" for e in seen):
        return []
    return await rtc.events.until("response.done")


class OneLongSentence:
    """Replies with one 40-word sentence: response.done comes as it starts playing, 4 s before its end."""

    async def respond(self, request: ResponderRequest) -> AsyncIterator[ResponderEvent]:
        yield TextDelta(LONG + ".")


async def test_webrtc_truncate_while_playing_stops_the_rest(make_server: MakeServer) -> None:
    server = await make_server(responder=OneLongSentence())
    rtc, session, response_id, item_id = await _speaking_call(server)
    try:
        # The item is complete (truncatable) while most of its audio is still to play.
        await rtc.events.until("response.done", within=10)
        await rtc.events.expect("rate_limits.updated")
        rtc.send(
            {
                "type": "conversation.item.truncate",
                "item_id": item_id,
                "content_index": 0,
                "audio_end_ms": 200,
            }
        )
        events = await rtc.events.until("conversation.item.truncated")
        assert [e["type"] for e in events] == ["output_audio_buffer.cleared", "conversation.item.truncated"]
        assert events[0]["response_id"] == response_id and events[1]["audio_end_ms"] == 200
        played_then = session._out.buffer.played_ms(item_id)  # type: ignore[attr-defined]
        await asyncio.sleep(0.3)
        assert session._out.buffer.played_ms(item_id) == played_then  # type: ignore[attr-defined]
        audio_ms, _ = await _retrieved_audio_ms(rtc, item_id)
        assert audio_ms == 200
    finally:
        await rtc.close()


async def test_session_updated_shows_the_full_effective_configuration(client: AsyncOpenAI) -> None:
    async with client.realtime.connect(model="gpt-realtime") as conn:
        events = sdk_reader(conn)
        await events.expect("session.created")
        await conn.session.update(
            session={"type": "realtime", "audio": {"input": {"turn_detection": {"type": "semantic_vad"}}}}
        )
        turn = (await events.expect("session.updated"))["session"]["audio"]["input"]["turn_detection"]
        assert turn == {
            "type": "semantic_vad",
            "eagerness": "auto",
            "create_response": True,
            "interrupt_response": True,
        }
        await conn.session.update(
            session={
                "type": "realtime",
                "audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 0.7}}},
            }
        )
        updated = (await events.expect("session.updated"))["session"]
        assert updated["audio"]["input"]["turn_detection"] == {
            "type": "server_vad",
            "threshold": 0.7,
            "prefix_padding_ms": 300,
            "silence_duration_ms": 200,
            "idle_timeout_ms": None,
            "create_response": True,
            "interrupt_response": True,
        }
        assert updated["instructions"] and updated["audio"]["output"] == {
            "format": {"type": "audio/pcm", "rate": 24000},
            "voice": "alloy",
            "speed": 1.0,
        }
        assert updated["tools"] == [] and updated["max_output_tokens"] == "inf"


def test_the_tone_synthesizer_is_long_enough_for_these_tests() -> None:
    assert len(LONG.split()) * ToneSynthesizer.WORD_MS >= 4000
