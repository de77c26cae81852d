"""The sideband observer on plain GA events: what each event records, priced, and gap repair."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from tests.support.usage import REFERENCE_USAGE
from voxgate.core.call_observer import (
    CallObserver,
    RecordItem,
    RecordResponse,
    RecordTranscription,
    RetrieveItem,
    SessionEnded,
)
from voxgate.core.prices import default_prices
from voxgate.protocol.sideband_events import parse_supervised_event


def event(data: dict[str, Any]) -> Any:
    parsed = parse_supervised_event(json.dumps({"event_id": "event_1", **data}))
    assert parsed is not None, data
    return parsed


def user_audio_item(item_id: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "message",
        "role": "user",
        "status": "completed",
        "content": [{"type": "input_audio", "transcript": None}],
    }


def assistant_item(item_id: str, transcript: str, status: str = "completed") -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": [{"type": "output_audio", "transcript": transcript}],
    }


def observer(**kwargs: Any) -> CallObserver:
    return CallObserver(
        model="gpt-realtime-2.1",
        transcription_model="gpt-realtime-whisper",
        prices=default_prices(),
        **kwargs,
    )


def test_a_spoken_turn_and_its_reply_become_items_a_transcription_and_a_priced_response() -> None:
    watch = observer()
    added = watch.feed(event({"type": "conversation.item.added", "item": user_audio_item("item_u1")}))
    assert added == [RecordItem(added[0].item)]  # type: ignore[union-attr]
    assert added[0].item.role == "user" and added[0].item.text is None  # type: ignore[union-attr]
    heard = watch.feed(
        event(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": "item_u1",
                "content_index": 0,
                "transcript": "What time is it?",
                "usage": {"type": "duration", "seconds": 3},
            }
        )
    )
    item, transcription = heard
    assert isinstance(item, RecordItem) and item.item.text == "What time is it?"
    assert isinstance(transcription, RecordTranscription)
    # 3 s at $0.017 per minute.
    assert transcription.transcription.cost_usd == Decimal("0.017") * 3 / 60
    assert transcription.transcription.seconds == 3
    usage = REFERENCE_USAGE
    done = watch.feed(
        event(
            {
                "type": "response.done",
                "response": {
                    "object": "realtime.response",
                    "id": "resp_1",
                    "status": "completed",
                    "output": [assistant_item("item_a1", "It is noon.")],
                    "usage": usage,
                },
            }
        )
    )
    reply, response = done
    assert isinstance(reply, RecordItem) and reply.item.text == "It is noon."
    assert isinstance(response, RecordResponse)
    # gpt-realtime-2.1 per 1M: text in 4.00, audio in 32.00, audio cached 0.40, text out 24.00, audio out 64.
    expected = (
        Decimal(59) * Decimal("4.00")
        + Decimal(73 - 64) * Decimal("32.00")
        + Decimal(64) * Decimal("0.40")
        + Decimal(41) * Decimal("24.00")
        + Decimal(147) * Decimal("64.00")
    ) / Decimal(1_000_000)
    assert response.response.cost_usd == expected
    assert response.response.usage == usage


def test_a_cut_off_reply_is_recorded_interrupted_and_truncated() -> None:
    watch = observer()
    done = watch.feed(
        event(
            {
                "type": "response.done",
                "response": {
                    "id": "resp_2",
                    "status": "cancelled",
                    "status_details": {"type": "cancelled", "reason": "turn_detected"},
                    "output": [assistant_item("item_a2", "Let me tell you a long", "incomplete")],
                },
            }
        )
    )
    assert isinstance(done[0], RecordItem)
    assert done[0].item.interrupted and done[0].item.status == "incomplete"
    truncated = watch.feed(
        event(
            {
                "type": "conversation.item.truncated",
                "item_id": "item_a2",
                "content_index": 0,
                "audio_end_ms": 850,
            }
        )
    )
    assert isinstance(truncated[0], RecordItem) and truncated[0].item.truncated_ms == 850


def test_an_item_the_sideband_missed_is_fetched_once() -> None:
    watch = observer(known_items=["item_1"])
    seen = watch.feed(
        event(
            {
                "type": "conversation.item.added",
                "previous_item_id": "item_2",
                "item": user_audio_item("item_3"),
            }
        )
    )
    assert seen[1:] == [RetrieveItem("item_2")]
    # The done event of the same item asks for nothing more.
    again = watch.feed(
        event(
            {
                "type": "conversation.item.done",
                "previous_item_id": "item_2",
                "item": user_audio_item("item_3"),
            }
        )
    )
    assert all(not isinstance(action, RetrieveItem) for action in again)
    fetched = watch.feed(
        event({"type": "conversation.item.retrieved", "item": assistant_item("item_2", "hi")})
    )
    assert isinstance(fetched[0], RecordItem) and fetched[0].item.text == "hi"
    # Known items are never fetched.
    known = watch.feed(
        event(
            {
                "type": "conversation.item.added",
                "previous_item_id": "item_3",
                "item": user_audio_item("item_4"),
            }
        )
    )
    assert all(not isinstance(action, RetrieveItem) for action in known)


def test_an_unknown_model_costs_unknown_and_expiry_ends_the_session() -> None:
    watch = CallObserver(model="gpt-realtime-99", transcription_model=None, prices=default_prices())
    done = watch.feed(
        event({"type": "response.done", "response": {"id": "resp_3", "status": "completed", "usage": {}}})
    )
    assert isinstance(done[0], RecordResponse) and done[0].response.cost_usd is None
    expired = watch.feed(
        event(
            {
                "type": "error",
                "error": {
                    "type": "invalid_request_error",
                    "code": "session_expired",
                    "message": "Your session hit the maximum duration of 60 minutes.",
                },
            }
        )
    )
    assert expired == [SessionEnded("session_expired")]


def test_the_session_tells_the_observer_its_model_and_transcription_model() -> None:
    watch = CallObserver(model=None, transcription_model=None, prices=default_prices())
    session = {
        "type": "realtime",
        "model": "gpt-realtime-2.1-mini",
        "audio": {"input": {"transcription": {"model": "gpt-transcribe"}}},
    }
    assert watch.feed(event({"type": "session.updated", "session": session})) == []
    assert watch.model == "gpt-realtime-2.1-mini"
    assert watch.transcription_model == "gpt-transcribe"


def test_events_the_supervisor_ignores_and_garbage_are_not_parsed() -> None:
    assert parse_supervised_event(b"not json") is None
    assert parse_supervised_event(json.dumps({"type": "response.output_text.delta", "delta": "x"})) is None
    # A supervised type that breaks the official schema is skipped, not trusted.
    assert parse_supervised_event(json.dumps({"type": "response.done", "response": "nope"})) is None
