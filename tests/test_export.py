"""The pure renderers of a recorded call: the History API's JSON and the Markdown transcript."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tests.support.usage import REFERENCE_USAGE as USAGE
from voxgate.core import export
from voxgate.core.ledger import CallDetail, CallItem, CallRecord, CallResponse, CallSummary, Transcription

START = datetime(2026, 12, 1, 14, 5, 0, tzinfo=UTC)


def make_detail(
    *, cost: Decimal | None = Decimal("0.0123456"), ended: bool = True, items: list[CallItem] | None = None
) -> CallDetail:
    call = CallRecord(
        id="vgc_" + "ab" * 12,
        upstream_call_id="rtc_abc",
        user_id=7,
        api="realtime",
        mode="relay",
        model="gpt-realtime-2.1",
        voice="marin",
        client_ip="127.0.0.1",
        started_at=START,
        ended_at=START + timedelta(seconds=65) if ended else None,
        end_reason="upstream_closed" if ended else None,
    )
    if items is None:
        items = [
            CallItem("item_1", "user", "message", "Hello there", "completed", created_at=START),
            CallItem(
                "item_2",
                "assistant",
                "message",
                "Hi! How can\nI help?",
                "incomplete",
                previous_item_id="item_1",
                interrupted=True,
                truncated_ms=1500,
            ),
            CallItem("item_3", "user", "message", None, "completed", previous_item_id="item_2"),
        ]
    return CallDetail(
        summary=CallSummary(call, "ana", cost, cost is not None, "Hello there", len(items)),
        items=items,
        responses=[
            CallResponse("resp_1", "completed", USAGE, Decimal("0.0100000"), "gpt-realtime-2.1", START),
            CallResponse("resp_2", "cancelled", {"input_tokens": 10, "output_tokens": 5}, None),
        ],
        transcriptions=[
            Transcription("item_1", "gpt-realtime-whisper", 1.5, {}, Decimal("0.000425")),
            Transcription("item_3", "gpt-realtime-whisper", None, {"type": "tokens"}, None),
        ],
    )


def test_costs_are_exact_decimal_strings() -> None:
    assert export.cost_string(Decimal("0.0000004")) == "0.0000004"
    assert export.cost_string(Decimal("1E-7")) == "0.0000001"
    assert export.cost_string(Decimal("12.5000000000")) == "12.5"
    assert export.cost_string(Decimal("100")) == "100"
    assert export.cost_string(Decimal("0E-10")) == "0"
    assert export.cost_string(None) is None


def test_usage_totals_add_every_response_and_ignore_junk() -> None:
    junk = CallResponse("resp_x", "failed", {"input_tokens": "many", "output_token_details": None}, None)
    flag = CallResponse("resp_y", "failed", {"input_tokens": True}, None)
    totals = export.usage_totals([*make_detail().responses, junk, flag])
    assert totals == {
        "input_tokens": 142,
        "output_tokens": 193,
        "input_text_tokens": 59,
        "input_audio_tokens": 73,
        "cached_tokens": 64,
        "output_text_tokens": 41,
        "output_audio_tokens": 147,
    }


def test_detail_json_has_summary_items_responses_and_totals() -> None:
    detail = make_detail()
    body = export.call_detail(detail, simulated=False)
    assert body["id"] == "vgc_" + "ab" * 12
    assert body["started_at"] == "2026-12-01T14:05:00+00:00"
    assert body["ended_at"] == "2026-12-01T14:06:05+00:00"
    assert (body["duration_s"], body["live"], body["end_reason"]) == (65.0, False, "upstream_closed")
    assert (body["model"], body["voice"], body["mode"], body["user"]) == (
        "gpt-realtime-2.1",
        "marin",
        "relay",
        "ana",
    )
    assert (body["cost_usd"], body["cost_known"], body["simulated"]) == ("0.0123456", True, False)
    assert [i["item_id"] for i in body["items"]] == ["item_1", "item_2", "item_3"]
    assert body["items"][1] == {
        "item_id": "item_2",
        "role": "assistant",
        "type": "message",
        "text": "Hi! How can\nI help?",
        "status": "incomplete",
        "interrupted": True,
        "truncated_ms": 1500,
        "created_at": None,
    }
    assert [(r["response_id"], r["cost_usd"]) for r in body["responses"]] == [
        ("resp_1", "0.01"),
        ("resp_2", None),
    ]
    assert body["responses"][0]["usage"] == USAGE
    assert [t["cost_usd"] for t in body["transcriptions"]] == ["0.000425", None]
    assert body["usage"]["output_audio_tokens"] == 147
    assert body["transcription_seconds"] == 1.5
    assert json.loads(export.render_json(detail, simulated=False)) == body


def test_naive_times_are_utc_and_a_live_call_has_no_duration() -> None:
    # SQLite hands back naive datetimes.
    call = replace(make_detail(ended=False).summary.call, started_at=START.replace(tzinfo=None))
    body = export.call_summary(CallSummary(call, None, None, False, None, 0), simulated=True)
    assert body["started_at"] == "2026-12-01T14:05:00+00:00"
    assert (body["ended_at"], body["duration_s"], body["live"]) == (None, None, True)
    assert (body["cost_usd"], body["cost_known"], body["simulated"]) == (None, False, True)


def test_markdown_transcript_reads_like_a_conversation() -> None:
    text = export.render_markdown(make_detail(), simulated=False)
    assert text.startswith("# voxgate call vgc_abababababababababababab\n")
    for line in [
        "- Date: 2026-12-01 14:05:00 UTC",
        "- Duration: 1 min 05 s",
        "- Model: gpt-realtime-2.1",
        "- Voice: marin",
        "- Cost: $0.0123",
        "- User: ana",
        "- Ended: upstream_closed",
        "**User:** Hello there",
        "**Assistant:** Hi! How can  \nI help? _(interrupted, heard up to 1.5 s)_",
        "**User:** _(no transcript)_",
    ]:
        assert line in text
    assert text.index("Hello there") < text.index("How can") < text.index("no transcript")


def test_markdown_says_when_cost_is_unknown_or_simulated() -> None:
    unknown = export.render_markdown(make_detail(cost=None, ended=False, items=[]), simulated=False)
    assert "- Cost: unknown" in unknown
    assert "- Duration: still running" in unknown
    assert "_(nothing was said)_" in unknown
    simulated = export.render_markdown(make_detail(), simulated=True)
    assert "- Cost: $0.0123 (simulated on the local engine; nothing was billed)" in simulated


def test_function_calls_are_named_in_the_transcript() -> None:
    items = [
        CallItem("fc_1", "assistant", "function_call", '{"city": "Oslo"}', "completed"),
        CallItem("fc_2", "tool", "function_call_output", "sunny", "completed", previous_item_id="fc_1"),
    ]
    text = export.render_markdown(make_detail(items=items), simulated=False)
    assert '**Function call:** {"city": "Oslo"}' in text
    assert "**Function result:** sunny" in text


def test_export_file_names() -> None:
    assert export.export_filename("vgc_1", "md") == "voxgate-call-vgc_1.md"
    assert export.export_filename("vgc_1", "json") == "voxgate-call-vgc_1.json"
