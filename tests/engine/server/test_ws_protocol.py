"""Protocol rules over WebSocket: strict updates, bad events, the input buffer, cancel, audio, expiry."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import websockets
from openai import AsyncOpenAI

from tests.engine.conftest import API_KEY, EngineServer
from tests.engine.realtime_kit import EventReader, SlowResponder, ToneSynthesizer, rms, sdk_reader, tone
from voxgate.engine.assistants.responder import ResponderEvent, ResponderRequest, TextDelta
from voxgate.engine.config import EngineConfig
from voxgate.engine.realtime.usage import count_text_tokens
from voxgate.errors import UpstreamTimeout

MakeServer = Callable[..., Awaitable[EngineServer]]


async def test_unknown_session_field_rejects_the_whole_update(client: AsyncOpenAI) -> None:
    async with client.realtime.connect(model="gpt-realtime") as conn:
        events = sdk_reader(conn)
        before = (await events.expect("session.created"))["session"]
        # A beta-shaped field next to a valid change: nothing may be applied. (Invalid on purpose.)
        await conn.send(
            {  # type: ignore[arg-type]
                "type": "session.update",
                "event_id": "evt_client_1",
                "session": {"type": "realtime", "instructions": "changed", "voice": "marin"},
            }
        )
        error = (await events.expect("error"))["error"]
        assert error["code"] == "unknown_parameter" and error["param"] == "session.voice"
        assert error["event_id"] == "evt_client_1" and error["type"] == "invalid_request_error"
        await conn.session.update(session={"type": "realtime"})
        after = (await events.expect("session.updated"))["session"]
        assert after == before

        await conn.send(
            {"type": "session.update", "session": {"type": "realtime", "model": "gpt-realtime-2"}}
        )
        assert (await events.expect("error"))["error"]["param"] == "session.model"
        await conn.send(
            {
                "type": "session.update",
                "session": {"type": "realtime", "output_modalities": ["audio", "text"]},
            }
        )
        assert (await events.expect("error"))["error"]["param"] == "session.output_modalities"
        await conn.send({"type": "session.update", "session": {"output_modalities": ["text"]}})  # type: ignore[arg-type]
        assert (await events.expect("error"))["error"]["param"] == "session.type"


async def test_bad_messages_get_errors_and_the_session_lives(server: EngineServer) -> None:
    async with websockets.connect(
        f"ws://127.0.0.1:{server.port}/v1/realtime?model=gpt-realtime",
        additional_headers={"Authorization": f"Bearer {API_KEY}"},
    ) as ws:
        events = EventReader(ws.recv)
        await events.expect("session.created")
        await ws.send("{not json")
        assert (await events.expect("error"))["error"]["code"] == "invalid_json"
        await ws.send(json.dumps({"type": "response.text.delta", "event_id": "e1"}))
        error = (await events.expect("error"))["error"]
        assert (error["code"], error["param"], error["event_id"]) == ("invalid_value", "type", "e1")
        await ws.send(json.dumps({"event_id": "e2"}))
        assert (await events.expect("error"))["error"]["message"] == "The 'type' field is missing."
        await ws.send(json.dumps({"type": "conversation.item.create", "item": {"type": "message"}}))
        assert (await events.expect("error"))["error"]["code"] == "missing_required_parameter"
        await ws.send(json.dumps({"type": "response.cancel"}))
        assert (await events.expect("error"))["error"]["code"] == "response_cancel_not_active"
        await ws.send(json.dumps({"type": "output_audio_buffer.clear"}))
        assert (await events.expect("error"))["type"] == "error"  # WebRTC/SIP only
        await ws.send(json.dumps({"type": "conversation.item.retrieve", "item_id": "item_nope"}))
        assert (await events.expect("error"))["error"]["code"] == "item_not_found"
        # Still alive and well.
        await ws.send(json.dumps({"type": "input_audio_buffer.clear"}))
        await events.expect("input_audio_buffer.cleared")


async def test_input_buffer_append_commit_clear(client: AsyncOpenAI) -> None:
    async with client.realtime.connect(model="gpt-realtime") as conn:
        events = sdk_reader(conn)
        await events.expect("session.created")
        await conn.input_audio_buffer.commit()
        assert (await events.expect("error"))["error"]["code"] == "input_audio_buffer_commit_empty"

        await conn.input_audio_buffer.append(audio=base64.b64encode(tone(50)).decode())
        await conn.input_audio_buffer.clear()
        await events.expect("input_audio_buffer.cleared")
        await conn.input_audio_buffer.commit()  # cleared, so still too little
        await events.expect("error")

        audio = tone(300)
        await conn.input_audio_buffer.append(audio=base64.b64encode(audio).decode())
        await conn.input_audio_buffer.commit()
        committed = await events.expect("input_audio_buffer.committed")
        added = await events.expect("conversation.item.added")
        await events.expect("conversation.item.done")
        assert added["item"]["id"] == committed["item_id"]
        assert added["item"]["content"] == [{"type": "input_audio", "transcript": None}]
        await conn.conversation.item.retrieve(item_id=committed["item_id"])
        retrieved = (await events.expect("conversation.item.retrieved"))["item"]
        assert base64.b64decode(retrieved["content"][0]["audio"]) == audio

        await conn.send({"type": "input_audio_buffer.append", "audio": "@@not base64@@"})
        assert (await events.expect("error"))["error"]["param"] == "audio"


async def test_oversized_append_is_refused(client: AsyncOpenAI) -> None:
    async with client.realtime.connect(model="gpt-realtime") as conn:
        events = sdk_reader(conn)
        await events.expect("session.created")
        too_big = base64.b64encode(bytes(15 * 1024 * 1024 + 2)).decode()
        await conn.input_audio_buffer.append(audio=too_big)
        error = (await events.expect("error", within=15))["error"]
        assert error["code"] == "audio_too_large" and error["param"] == "audio"
        await conn.input_audio_buffer.clear()
        await events.expect("input_audio_buffer.cleared")


async def test_response_cancel(make_server: MakeServer) -> None:
    responder = SlowResponder()
    server = await make_server(responder=responder)
    async with server.client() as sdk, sdk.realtime.connect(model="gpt-realtime") as conn:
        events = sdk_reader(conn)
        await events.expect("session.created")
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        await events.expect("session.updated")
        await conn.response.create()
        await events.until("response.output_text.delta")
        await conn.response.create()  # one response at a time on the default conversation
        assert (await events.expect("error"))["error"]["code"] == "conversation_already_has_active_response"
        await conn.response.cancel()
        tail = await events.until("response.done")
        done = tail[-1]["response"]
        assert done["status"] == "cancelled"
        assert done["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
        assert done["output"][0]["status"] == "incomplete"
        assert done["output"][0]["content"][0]["text"] == "Thinking"
        await events.expect("rate_limits.updated")


async def test_spoken_response_over_websocket(server: EngineServer, client: AsyncOpenAI) -> None:
    async with client.realtime.connect(model="gpt-realtime") as conn:
        events = sdk_reader(conn)
        await events.expect("session.created")
        await conn.conversation.item.create(
            item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
        )
        await events.until("conversation.item.done")
        await conn.response.create()
        sequence = await events.until("rate_limits.updated")
        types = [e["type"] for e in sequence]
        assert types[:4] == [
            "response.created",
            "response.output_item.added",
            "conversation.item.added",
            "response.content_part.added",
        ]
        assert types[-7:] == [
            "response.output_audio.done",
            "response.output_audio_transcript.done",
            "response.content_part.done",
            "response.output_item.done",
            "conversation.item.done",
            "response.done",
            "rate_limits.updated",
        ]
        assert "output_audio_buffer.started" not in types  # WebRTC only
        assert sequence[3]["part"] == {"type": "audio", "transcript": ""}
        audio = b"".join(
            base64.b64decode(e["delta"]) for e in sequence if e["type"] == "response.output_audio.delta"
        )
        transcript = "".join(
            e["delta"] for e in sequence if e["type"] == "response.output_audio_transcript.delta"
        )
        assert transcript == 'You said: "hi". I am the voxgate echo assistant.'
        words = len(transcript.split())
        assert len(audio) == words * ToneSynthesizer.WORD_MS * 48 and rms(audio) > 1000
        response = sequence[-2]["response"]
        assert response["output"][0]["content"] == [{"type": "output_audio", "transcript": transcript}]
        assert (
            response["usage"]["output_token_details"]["audio_tokens"] == words * ToneSynthesizer.WORD_MS // 50
        )

        # Truncating the played audio drops the transcript; the voice is now fixed.
        item_id = response["output"][0]["id"]
        await conn.conversation.item.truncate(item_id=item_id, content_index=0, audio_end_ms=150)
        truncated = await events.expect("conversation.item.truncated")
        assert truncated["audio_end_ms"] == 150
        await conn.conversation.item.retrieve(item_id=item_id)
        item = (await events.expect("conversation.item.retrieved"))["item"]
        assert item["content"][0]["transcript"] == ""
        assert len(base64.b64decode(item["content"][0]["audio"])) == 150 * 48
        await conn.session.update(session={"type": "realtime", "audio": {"output": {"voice": "marin"}}})
        assert (await events.expect("error"))["error"]["code"] == "cannot_update_voice"


@pytest.mark.parametrize("duration", [0.3])
async def test_session_expires(make_server: MakeServer, duration: float) -> None:
    config = EngineConfig(api_keys=frozenset({API_KEY}), session_max_duration_s=duration)
    server = await make_server(config)
    async with websockets.connect(
        f"ws://127.0.0.1:{server.port}/v1/realtime?model=gpt-realtime",
        additional_headers={"Authorization": f"Bearer {API_KEY}"},
    ) as ws:
        events = EventReader(ws.recv)
        await events.expect("session.created")
        error = (await events.expect("error", within=3))["error"]
        assert error["code"] == "session_expired"
        assert error["message"] == "Your session hit the maximum duration of 0.3 seconds."
        with pytest.raises(websockets.ConnectionClosed):
            await ws.recv()
    assert not server.engine._sessions


class FailingResponder:
    """Fails the way an unreachable model server does."""

    async def respond(self, request: ResponderRequest) -> AsyncIterator[ResponderEvent]:
        yield TextDelta("Partial")
        raise UpstreamTimeout("The model did not answer in time.")


async def test_failed_and_incomplete_responses(make_server: MakeServer) -> None:
    server = await make_server(responder=FailingResponder())
    async with server.client() as sdk, sdk.realtime.connect(model="gpt-realtime") as conn:
        events = sdk_reader(conn)
        await events.expect("session.created")
        await conn.response.create(response={"output_modalities": ["text"]})
        done = (await events.until("response.done"))[-1]["response"]
        assert done["status"] == "failed"
        assert done["status_details"]["error"]["code"] == "upstream_timeout"
        assert done["output"][0]["status"] == "incomplete"
        await events.expect("rate_limits.updated")
        await conn.input_audio_buffer.clear()  # the session lives on
        await events.expect("input_audio_buffer.cleared")


async def test_max_output_tokens_cuts_the_reply(client: AsyncOpenAI) -> None:
    async with client.realtime.connect(model="gpt-realtime") as conn:
        events = sdk_reader(conn)
        await events.expect("session.created")
        await conn.response.create(response={"output_modalities": ["text"], "max_output_tokens": 3})
        done = (await events.until("response.done"))[-1]["response"]
        assert done["status"] == "incomplete" and done["max_output_tokens"] == 3
        assert done["status_details"] == {"type": "incomplete", "reason": "max_output_tokens"}
        # The cut happens at the delta that reaches the budget (deltas are words here).
        text = done["output"][0]["content"][0]["text"]
        assert text == "I am listening." and done["usage"]["output_tokens"] == count_text_tokens(text)
