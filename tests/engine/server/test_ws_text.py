"""A text turn over WebSocket with the official SDK, unmodified, against the engine in uvicorn."""

from __future__ import annotations

from typing import Any

import pytest
import websockets
from openai import AsyncOpenAI

from tests.engine.conftest import API_KEY, EngineServer
from tests.engine.realtime_kit import sdk_reader

TEXT_SEQUENCE = [
    "response.created",
    "response.output_item.added",
    "conversation.item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "conversation.item.done",
    "response.done",
    "rate_limits.updated",
]


def collapse(types: list[str]) -> list[str]:
    """Event types with runs of the same type folded into one (deltas)."""
    return [t for i, t in enumerate(types) if i == 0 or types[i - 1] != t]


async def test_text_turn(client: AsyncOpenAI) -> None:
    async with client.realtime.connect(model="gpt-realtime") as conn:
        events = sdk_reader(conn)
        created = await events.expect("session.created")
        session = created["session"]
        assert session["model"] == "gpt-realtime" and session["output_modalities"] == ["audio"]
        assert session["expires_at"] > 0

        await conn.session.update(
            session={
                "type": "realtime",
                "model": "gpt-realtime",
                "output_modalities": ["text"],
                "tracing": "auto",
            }
        )
        updated = (await events.expect("session.updated"))["session"]
        assert (updated["id"], updated["expires_at"]) == (session["id"], session["expires_at"])
        assert updated["output_modalities"] == ["text"] and updated["tracing"] == "auto"
        assert updated["audio"] == session["audio"]  # full config, untouched fields kept

        await conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "hello there"}],
            }
        )
        added = await events.expect("conversation.item.added")
        done = await events.expect("conversation.item.done")
        user_id = added["item"]["id"]
        assert added["previous_item_id"] is None and done["item"]["id"] == user_id

        await conn.response.create()
        sequence = await events.until("rate_limits.updated")
        assert collapse([e["type"] for e in sequence]) == TEXT_SEQUENCE
        text = "".join(e["delta"] for e in sequence if e["type"] == "response.output_text.delta")
        assert text == 'You said: "hello there". I am the voxgate echo assistant.'
        by_type = {e["type"]: e for e in sequence}
        assert by_type["response.content_part.added"]["part"] == {"type": "text", "text": ""}
        assert by_type["response.output_text.done"]["text"] == text
        assert by_type["conversation.item.added"]["previous_item_id"] == user_id
        response = by_type["response.done"]["response"]
        assert response["status"] == "completed" and response["output_modalities"] == ["text"]
        assert response["output"][0]["content"] == [{"type": "output_text", "text": text}]
        usage = response["usage"]
        assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
        assert usage["output_token_details"] == {"text_tokens": usage["output_tokens"], "audio_tokens": 0}
        assert usage["input_token_details"]["audio_tokens"] == 0
        assert by_type["rate_limits.updated"]["rate_limits"][0]["name"] == "tokens"

        # The assistant item is in the conversation, retrievable, and deletable.
        assistant_id = response["output"][0]["id"]
        await conn.conversation.item.retrieve(item_id=assistant_id)
        retrieved = await events.expect("conversation.item.retrieved")
        assert retrieved["item"]["content"][0]["text"] == text
        await conn.conversation.item.delete(item_id=assistant_id)
        assert (await events.expect("conversation.item.deleted"))["item_id"] == assistant_id


async def test_function_call_round_trip(client: AsyncOpenAI) -> None:
    tool: dict[str, Any] = {
        "type": "function",
        "name": "get_weather",
        "description": "Weather",
        "parameters": {"type": "object"},
    }
    async with client.realtime.connect(model="gpt-realtime") as conn:
        events = sdk_reader(conn)
        await events.expect("session.created")
        await conn.session.update(
            session={"type": "realtime", "output_modalities": ["text"], "tools": [tool]}  # type: ignore[list-item]
        )
        assert (await events.expect("session.updated"))["session"]["tools"] == [tool]
        await conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "get_weather please"}],
            }
        )
        await events.until("conversation.item.done")
        await conn.response.create()
        sequence = await events.until("rate_limits.updated")
        assert collapse([e["type"] for e in sequence]) == [
            "response.created",
            "response.output_item.added",
            "conversation.item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "conversation.item.done",
            "response.done",
            "rate_limits.updated",
        ]
        call = sequence[-2]["response"]["output"][0]
        assert call["type"] == "function_call" and call["name"] == "get_weather"
        assert call["arguments"] == '{"text": "get_weather please"}'

        await conn.conversation.item.create(
            item={"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}
        )
        await events.until("conversation.item.done")
        await conn.response.create()
        reply = await events.until("response.done")
        assert (
            reply[-1]["response"]["output"][0]["content"][0]["text"]
            == "The get_weather tool returned: sunny."
        )


async def test_out_of_band_response_leaves_conversation_alone(client: AsyncOpenAI) -> None:
    async with client.realtime.connect(model="gpt-realtime") as conn:
        events = sdk_reader(conn)
        await events.expect("session.created")
        await conn.response.create(
            response={
                "conversation": "none",
                "output_modalities": ["text"],
                "metadata": {"topic": "probe"},
                "input": [
                    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "ping"}]}
                ],
            }
        )
        sequence = await events.until("rate_limits.updated")
        types = [e["type"] for e in sequence]
        assert "conversation.item.added" not in types and "conversation.item.done" not in types
        response = sequence[-2]["response"]
        assert response["conversation_id"] is None and response["metadata"] == {"topic": "probe"}
        assert response["output"][0]["content"][0]["text"].startswith('You said: "ping"')


async def test_standard_key_needs_a_model(server: EngineServer) -> None:
    with pytest.raises(websockets.InvalidStatus) as caught:
        async with websockets.connect(
            f"ws://127.0.0.1:{server.port}/v1/realtime",
            additional_headers={"Authorization": f"Bearer {API_KEY}"},
        ):
            pass
    assert caught.value.response.status_code == 400
    assert b"missing_required_parameter" in caught.value.response.body
