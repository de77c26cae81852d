"""The History API over a real ledger (SQLite and PostgreSQL): list and page, read, export, delete."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.conftest import Gateway
from voxgate.core.ledger import CallItem, CallRecord, CallResponse, NewCall, Transcription

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
# Calls here are written straight into the ledger, with upstream ids the fake upstream never issued: the
# supervisor's periodic scan must not find them live and try (and fail) to watch them mid-test.
QUIET_SUPERVISOR = {"scan_interval_s": 3600.0}
USAGE = {
    "total_tokens": 320,
    "input_tokens": 132,
    "output_tokens": 188,
    "input_token_details": {"text_tokens": 59, "audio_tokens": 73, "cached_tokens": 64},
    "output_token_details": {"text_tokens": 41, "audio_tokens": 147},
}


async def record_call(
    services: Any,
    user_id: int,
    *,
    started_at: datetime = T0,
    items: Sequence[CallItem] = (),
    responses: Sequence[CallResponse] = (),
    transcriptions: Sequence[Transcription] = (),
    ended: bool = True,
    upstream_call_id: str | None = None,
) -> CallRecord:
    """A call recorded straight into the gateway's ledger, as the supervisor would record it."""
    ledger = services.ledger
    call: CallRecord = await ledger.open_call(
        NewCall(
            upstream_call_id or "rtc_" + secrets.token_hex(8),
            user_id,
            "relay",
            "gpt-realtime-2.1",
            "marin",
            "127.0.0.1",
            started_at=started_at,
        )
    )
    for item in items:
        await ledger.record_item(call.id, item)
    for response in responses:
        await ledger.record_response(call.id, response)
    for transcription in transcriptions:
        await ledger.record_transcription(call.id, transcription)
    if ended:
        await ledger.end_call(call.id, "upstream_closed", at=started_at + timedelta(seconds=42))
    record: CallRecord | None = await ledger.get_call(call.id)
    assert record is not None
    return record


def said(item_id: str, role: str, text: str, previous: str | None = None) -> CallItem:
    return CallItem(item_id, role, "message", text, "completed", previous_item_id=previous)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
async def gw(gateway_factory: Callable[..., Any], database_url: str) -> AsyncIterator[Gateway]:
    async with gateway_factory(database_url=database_url, supervisor=QUIET_SUPERVISOR) as gateway:
        yield gateway


async def test_list_shows_own_calls_newest_first_and_pages(gw: Gateway) -> None:
    ana, ana_key = await gw.user_with_key("ana")
    bob, bob_key = await gw.user_with_key("bob")
    first, second, third = [
        await record_call(
            gw.services,
            ana.id,
            started_at=T0 + timedelta(minutes=n),
            items=[said(f"item_{n}", "user", f"Call number {n} here")],
        )
        for n in range(3)
    ]
    bobs = await record_call(gw.services, bob.id, started_at=T0 + timedelta(minutes=10))

    page = (await gw.client.get("/api/calls", params={"limit": 2}, headers=bearer(ana_key))).json()
    assert [c["id"] for c in page["data"]] == [third.id, second.id]
    assert page["has_more"] is True
    listed = page["data"][0]
    assert listed["started_at"] == (T0 + timedelta(minutes=2)).isoformat()
    assert (listed["duration_s"], listed["end_reason"], listed["live"]) == (42.0, "upstream_closed", False)
    assert (listed["model"], listed["voice"], listed["mode"], listed["user"]) == (
        "gpt-realtime-2.1",
        "marin",
        "relay",
        "ana",
    )
    assert (listed["first_words"], listed["items"]) == ("Call number 2 here", 1)
    assert (listed["cost_usd"], listed["cost_known"], listed["simulated"]) == ("0", True, False)

    params = {"limit": 2, "before": page["data"][1]["started_at"]}
    rest = (await gw.client.get("/api/calls", params=params, headers=bearer(ana_key))).json()
    assert ([c["id"] for c in rest["data"]], rest["has_more"]) == ([first.id], False)

    mine = (await gw.client.get("/api/calls", headers=bearer(bob_key))).json()
    assert ([c["id"] for c in mine["data"]], mine["has_more"]) == ([bobs.id], False)


async def test_only_admins_list_other_users_calls(gw: Gateway) -> None:
    ana, ana_key = await gw.user_with_key("ana")
    bob, _ = await gw.user_with_key("bob")
    _, root_key = await gw.user_with_key("root", role="admin")
    anas = await record_call(gw.services, ana.id)
    bobs = await record_call(gw.services, bob.id, started_at=T0 + timedelta(minutes=1))

    for params in ({"user": "bob"}, {"all": "true"}):
        refused = await gw.client.get("/api/calls", params=params, headers=bearer(ana_key))
        assert refused.status_code == 403, params
        assert refused.json()["error"]["type"] == "invalid_request_error"
    own = await gw.client.get("/api/calls", params={"user": "ana"}, headers=bearer(ana_key))
    assert [c["id"] for c in own.json()["data"]] == [anas.id]

    def ids(response: Any) -> list[str]:
        return [c["id"] for c in response.json()["data"]]

    assert ids(await gw.client.get("/api/calls", params={"user": "bob"}, headers=bearer(root_key))) == [
        bobs.id
    ]
    everyone = await gw.client.get("/api/calls", params={"all": "true"}, headers=bearer(root_key))
    assert ids(everyone) == [bobs.id, anas.id]
    assert [c["user"] for c in everyone.json()["data"]] == ["bob", "ana"]
    assert ids(await gw.client.get("/api/calls", headers=bearer(root_key))) == []  # an admin's own
    ghost = await gw.client.get("/api/calls", params={"user": "ghost"}, headers=bearer(root_key))
    assert ghost.status_code == 404
    assert (ghost.json()["error"]["code"], ghost.json()["error"]["param"]) == ("user_not_found", "user")


async def test_bad_list_parameters_are_400(gw: Gateway) -> None:
    _, key = await gw.user_with_key()
    cases: list[tuple[dict[str, str | int], str]] = [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"before": "soon"}, "before"),
    ]
    for params, param in cases:
        response = await gw.client.get("/api/calls", params=params, headers=bearer(key))
        assert response.status_code == 400, params
        assert response.json()["error"]["param"] == param


async def test_detail_has_the_conversation_in_order_with_usage_and_costs(gw: Gateway) -> None:
    ana, key = await gw.user_with_key("ana")
    # Recorded out of order (as a re-attached sideband fetches items late): the API follows
    # previous_item_id.
    items = [
        said("item_c", "user", "Thanks, bye.", previous="item_b"),
        said("item_a", "user", "What is the weather?"),
        CallItem(
            "item_b",
            "assistant",
            "message",
            "Sunny all",
            "incomplete",
            "item_a",
            interrupted=True,
            truncated_ms=900,
        ),
    ]
    responses = [
        CallResponse("resp_1", "completed", USAGE, Decimal("0.0104"), "gpt-realtime-2.1"),
        CallResponse("resp_2", "cancelled", {"input_tokens": 10, "output_tokens": 2}, Decimal("0.0000004")),
    ]
    transcriptions = [Transcription("item_a", "gpt-realtime-whisper", 2.5, {}, Decimal("0.0007083333"))]
    call = await record_call(
        gw.services, ana.id, items=items, responses=responses, transcriptions=transcriptions
    )

    response = await gw.client.get(f"/api/calls/{call.id}", headers=bearer(key))
    assert response.status_code == 200, response.text
    body = response.json()
    assert [i["item_id"] for i in body["items"]] == ["item_a", "item_b", "item_c"]
    assert body["items"][1]["text"] == "Sunny all"
    assert (body["items"][1]["interrupted"], body["items"][1]["truncated_ms"]) == (True, 900)
    assert (body["first_words"], body["live"], body["items"][0]["role"]) == (
        "What is the weather?",
        False,
        "user",
    )
    assert [(r["response_id"], r["cost_usd"]) for r in body["responses"]] == [
        ("resp_1", "0.0104"),
        ("resp_2", "0.0000004"),
    ]
    assert body["responses"][0]["usage"] == USAGE
    assert body["usage"] == {
        "input_tokens": 142,
        "output_tokens": 190,
        "input_text_tokens": 59,
        "input_audio_tokens": 73,
        "cached_tokens": 64,
        "output_text_tokens": 41,
        "output_audio_tokens": 147,
    }
    assert body["transcription_seconds"] == 2.5
    assert [t["cost_usd"] for t in body["transcriptions"]] == ["0.0007083333"]
    assert (body["cost_usd"], body["cost_known"]) == ("0.0111087333", True)


async def test_a_response_of_unknown_price_makes_the_call_cost_unknown(gw: Gateway) -> None:
    ana, key = await gw.user_with_key()
    responses = [
        CallResponse("resp_1", "completed", USAGE, Decimal("0.01")),
        CallResponse("resp_2", "completed", USAGE, None, "some-new-model"),
    ]
    call = await record_call(gw.services, ana.id, responses=responses)
    body = (await gw.client.get(f"/api/calls/{call.id}", headers=bearer(key))).json()
    assert (body["cost_usd"], body["cost_known"]) == (None, False)
    assert [r["cost_usd"] for r in body["responses"]] == ["0.01", None]
    (listed,) = (await gw.client.get("/api/calls", headers=bearer(key))).json()["data"]
    assert (listed["cost_usd"], listed["cost_known"]) == (None, False)


async def test_a_live_call_shows_as_live(gw: Gateway) -> None:
    ana, key = await gw.user_with_key()
    call = await record_call(gw.services, ana.id, ended=False)
    body = (await gw.client.get(f"/api/calls/{call.id}", headers=bearer(key))).json()
    assert (body["live"], body["ended_at"], body["duration_s"], body["end_reason"]) == (
        True,
        None,
        None,
        None,
    )


async def test_exports_are_attachments_in_json_and_markdown(gw: Gateway) -> None:
    ana, key = await gw.user_with_key("ana")
    items = [said("item_a", "user", "Hello gateway"), said("item_b", "assistant", "Hello ana", "item_a")]
    responses = [CallResponse("resp_1", "completed", USAGE, Decimal("0.0104"))]
    call = await record_call(gw.services, ana.id, items=items, responses=responses)
    detail = (await gw.client.get(f"/api/calls/{call.id}", headers=bearer(key))).json()

    as_json = await gw.client.get(
        f"/api/calls/{call.id}/export", params={"format": "json"}, headers=bearer(key)
    )
    assert as_json.status_code == 200
    assert as_json.headers["content-type"] == "application/json"
    assert as_json.headers["content-disposition"] == f'attachment; filename="voxgate-call-{call.id}.json"'
    assert json.loads(as_json.text) == detail
    default = await gw.client.get(f"/api/calls/{call.id}/export", headers=bearer(key))
    assert default.headers["content-disposition"].endswith('.json"')

    as_md = await gw.client.get(f"/api/calls/{call.id}/export", params={"format": "md"}, headers=bearer(key))
    assert as_md.status_code == 200
    assert as_md.headers["content-type"] == "text/markdown; charset=utf-8"
    assert as_md.headers["content-disposition"] == f'attachment; filename="voxgate-call-{call.id}.md"'
    text = as_md.text
    assert text.startswith(f"# voxgate call {call.id}\n")
    for line in [
        "- Date: 2026-12-01 09:00:00 UTC",
        "- Duration: 42 s",
        "- Model: gpt-realtime-2.1",
        "- Voice: marin",
        "- Cost: $0.0104",
        "**User:** Hello gateway",
        "**Assistant:** Hello ana",
    ]:
        assert line in text

    pdf = await gw.client.get(f"/api/calls/{call.id}/export", params={"format": "pdf"}, headers=bearer(key))
    assert pdf.status_code == 400
    assert (pdf.json()["error"]["param"], pdf.json()["error"]["code"]) == ("format", "invalid_value")


async def test_delete_forgets_the_call(gw: Gateway) -> None:
    ana, key = await gw.user_with_key()
    call = await record_call(gw.services, ana.id, items=[said("item_a", "user", "Forget me")])
    assert (await gw.client.delete(f"/api/calls/{call.id}", headers=bearer(key))).status_code == 204
    gone = await gw.client.get(f"/api/calls/{call.id}", headers=bearer(key))
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "call_not_found"
    assert await gw.services.ledger.get_call(call.id) is None
    assert (await gw.client.get("/api/calls", headers=bearer(key))).json()["data"] == []
    again = await gw.client.delete(f"/api/calls/{call.id}", headers=bearer(key))
    assert again.status_code == 404


async def test_malformed_call_ids_are_400(gw: Gateway) -> None:
    _, key = await gw.user_with_key()
    for path in ["/api/calls/rtc_abc", "/api/calls/vgc_XYZ", "/api/calls/vgc_1234/export"]:
        response = await gw.client.get(path, headers=bearer(key))
        assert response.status_code == 400, path
        assert response.json()["error"]["param"] == "call_id"
