"""The SQL call ledger's contract, run against every SQL backend (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Table, func, select

from voxgate.adapters.sql import AccountStore, Database, LedgerStore
from voxgate.adapters.sql.tables import call_items, call_responses, call_transcriptions, calls
from voxgate.core.ledger import CallItem, CallResponse, Ledger, NewCall, Transcription
from voxgate.errors import NotFound

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@dataclass
class Env:
    db: Database
    ledger: LedgerStore
    ana: int
    bob: int


@pytest.fixture
async def env(database_url: str) -> AsyncIterator[Env]:
    db = Database(database_url)
    await db.migrate()
    accounts = AccountStore(db)
    ana = await accounts.create_user("ana")
    bob = await accounts.create_user("bob")
    try:
        yield Env(db, LedgerStore(db), ana.id, bob.id)
    finally:
        await db.aclose()


def new_call(user_id: int, upstream: str = "rtc_1", started_at: datetime | None = None) -> NewCall:
    return NewCall(
        upstream, user_id, "relay", "gpt-realtime-2.1", "marin", "203.0.113.7", started_at=started_at
    )


def user_item(item_id: str, text: str | None, previous: str | None = None) -> CallItem:
    return CallItem(item_id, "user", "message", text, "completed", previous)


def reply(item_id: str, text: str | None, previous: str | None = None) -> CallItem:
    return CallItem(item_id, "assistant", "message", text, "completed", previous)


async def count(db: Database, table: Table, call_id: str) -> int:
    query = select(func.count()).select_from(table).where(table.c.call_id == call_id)
    async with db.engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


def test_the_store_implements_every_ledger_method_with_its_signature() -> None:
    methods = [name for name in vars(Ledger) if not name.startswith("_")]
    assert {"open_call", "record_item", "prune_transcripts"} <= set(methods)
    for name in methods:
        assert inspect.signature(getattr(LedgerStore, name)) == inspect.signature(getattr(Ledger, name)), name


async def test_open_call_is_idempotent_and_the_first_owner_wins(env: Env) -> None:
    first = await env.ledger.open_call(new_call(env.ana, started_at=T0))
    again = await env.ledger.open_call(new_call(env.bob))
    assert first == again
    assert first.id.startswith("vgc_") and len(first.id) == 28
    assert (first.user_id, first.mode, first.api, first.started_at) == (env.ana, "relay", "realtime", T0)
    assert first.live and first.end_reason is None
    assert await env.ledger.get_call(first.id) == first
    assert await env.ledger.get_call_by_upstream("rtc_1") == first
    assert await env.ledger.get_call("vgc_none") is None
    assert await env.ledger.get_call_by_upstream("rtc_none") is None
    with pytest.raises(NotFound):
        await env.ledger.open_call(new_call(10_000, "rtc_2"))


async def test_replicas_opening_the_same_call_at_once_make_one_row(env: Env) -> None:
    other = Database(env.db.url)  # a second replica: its own pool
    try:
        stores = [env.ledger, LedgerStore(other)]
        records = await asyncio.gather(
            *[stores[i % 2].open_call(new_call(env.ana, "rtc_x")) for i in range(8)]
        )
    finally:
        await other.aclose()
    assert len({r.id for r in records}) == 1
    async with env.db.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(calls))).scalar_one() == 1


async def test_record_item_keeps_the_best_of_every_write(env: Env) -> None:
    call = await env.ledger.open_call(new_call(env.ana))
    await env.ledger.record_item(call.id, CallItem("it_1", "assistant", "message", None, "in_progress"))
    await env.ledger.record_item(call.id, CallItem("it_1", "assistant", "message", "Hello the", None, "it_0"))
    await env.ledger.record_item(
        call.id, CallItem("it_1", "assistant", "message", "Hello there", "incomplete", interrupted=True)
    )
    # A replay of older events: nothing known is lost, and interrupted stays on.
    await env.ledger.record_item(call.id, CallItem("it_1", "assistant", "message", None, "in_progress"))
    await env.ledger.record_item(
        call.id, CallItem("it_1", "assistant", "message", None, None, truncated_ms=1500)
    )
    detail = await env.ledger.call_detail(call.id)
    assert detail is not None
    (item,) = detail.items
    assert (item.text, item.status, item.previous_item_id) == ("Hello there", "incomplete", "it_0")
    assert (item.interrupted, item.truncated_ms, item.role) == (True, 1500, "assistant")
    assert item.created_at is not None and item.created_at.tzinfo is not None
    with pytest.raises(NotFound):
        await env.ledger.record_item("vgc_none", item)


async def test_concurrent_writes_of_one_event_leave_one_row(env: Env) -> None:
    call = await env.ledger.open_call(new_call(env.ana))
    other = Database(env.db.url)
    try:
        stores = [env.ledger, LedgerStore(other)]
        usage = {"total_tokens": 10}
        await asyncio.gather(
            *[stores[i % 2].record_item(call.id, user_item("it_1", f"take {i}")) for i in range(6)],
            *[
                stores[i % 2].record_response(call.id, CallResponse("resp_1", "completed", usage, Decimal(i)))
                for i in range(6)
            ],
            *[
                stores[i % 2].record_transcription(
                    call.id, Transcription("it_1", "gpt-realtime-whisper", 1.5, {}, Decimal("0.0001"))
                )
                for i in range(6)
            ],
        )
    finally:
        await other.aclose()
    for table in (call_items, call_responses, call_transcriptions):
        assert await count(env.db, table, call.id) == 1
    detail = await env.ledger.call_detail(call.id)
    assert detail is not None
    assert detail.items[0].text is not None and detail.items[0].text.startswith("take ")


async def test_a_replayed_response_or_transcription_changes_nothing(env: Env) -> None:
    call = await env.ledger.open_call(new_call(env.ana))
    await env.ledger.record_response(
        call.id, CallResponse("resp_1", "completed", {"total_tokens": 7}, Decimal("0.5"), "gpt-realtime-2.1")
    )
    await env.ledger.record_response(call.id, CallResponse("resp_1", "cancelled", {}, None))
    await env.ledger.record_transcription(call.id, Transcription("it_1", "m", 2.0, {"seconds": 2}, None))
    await env.ledger.record_transcription(call.id, Transcription("it_1", "x", 9.0, {}, Decimal(1)))
    detail = await env.ledger.call_detail(call.id)
    assert detail is not None
    (response,) = detail.responses
    assert (response.status, response.usage, response.cost_usd) == (
        "completed",
        {"total_tokens": 7},
        Decimal("0.5"),
    )
    assert response.model == "gpt-realtime-2.1"
    (transcription,) = detail.transcriptions
    assert (transcription.model, transcription.seconds, transcription.cost_usd) == ("m", 2.0, None)
    with pytest.raises(NotFound):
        await env.ledger.record_response("vgc_none", response)


async def test_costs_round_trip_exactly_and_add_up(env: Env) -> None:
    call = await env.ledger.open_call(new_call(env.ana))
    amounts = [Decimal("0.0001234567"), Decimal("1234567890.0123456789"), Decimal("0.1")]
    for n, amount in enumerate(amounts):
        await env.ledger.record_response(call.id, CallResponse(f"resp_{n}", "completed", {}, amount))
    # Amounts are kept to 1e-10 USD (half-even), the same on every backend.
    await env.ledger.record_transcription(
        call.id, Transcription("it_1", "m", 3.0, {}, Decimal("0.00000000015"))
    )
    detail = await env.ledger.call_detail(call.id)
    assert detail is not None
    assert [r.cost_usd for r in detail.responses] == amounts
    assert all(isinstance(r.cost_usd, Decimal) for r in detail.responses)
    assert detail.transcriptions[0].cost_usd == Decimal("0.0000000002")
    expected = Decimal("1234567890.1124691356") + Decimal("0.0000000002")
    assert detail.summary.cost_usd == expected and detail.summary.cost_known
    (listed,) = await env.ledger.list_calls()
    assert listed.cost_usd == expected


async def test_an_unknown_price_makes_the_cost_unknown(env: Env) -> None:
    call = await env.ledger.open_call(new_call(env.ana))
    empty = await env.ledger.call_detail(call.id)
    assert empty is not None and empty.summary.cost_usd == 0 and empty.summary.cost_known
    await env.ledger.record_response(call.id, CallResponse("resp_1", "completed", {}, Decimal("0.25")))
    await env.ledger.record_transcription(call.id, Transcription("it_1", "new-asr", None, {}, None))
    (summary,) = await env.ledger.list_calls()
    assert summary.cost_usd is None and not summary.cost_known


async def test_end_call_first_reason_wins(env: Env) -> None:
    call = await env.ledger.open_call(new_call(env.ana, started_at=T0))
    other = await env.ledger.open_call(new_call(env.ana, "rtc_2", T0 + timedelta(minutes=1)))
    assert [c.id for c in await env.ledger.live_calls()] == [call.id, other.id]
    at = T0 + timedelta(minutes=3)
    results = await asyncio.gather(
        env.ledger.end_call(call.id, "upstream_closed", at), env.ledger.end_call(call.id, "hangup")
    )
    assert sorted(results) == [False, True]
    assert not await env.ledger.end_call(call.id, "session_expired")
    assert not await env.ledger.end_call("vgc_none", "hangup")
    ended = await env.ledger.get_call(call.id)
    assert ended is not None and not ended.live and ended.end_reason in {"upstream_closed", "hangup"}
    assert [c.id for c in await env.ledger.live_calls()] == [other.id]
    await env.ledger.end_call(other.id, "hangup", T0 + timedelta(seconds=150))
    (summary, _) = await env.ledger.list_calls()
    assert summary.duration_s == 90.0


async def test_list_calls_newest_first_per_user_and_paged(env: Env) -> None:
    opened = [
        await env.ledger.open_call(new_call(user, f"rtc_{n}", T0 + timedelta(minutes=n)))
        for n, user in enumerate([env.ana, env.bob, env.ana, env.ana])
    ]
    everyone = await env.ledger.list_calls()
    assert [s.call.id for s in everyone] == [c.id for c in reversed(opened)]
    assert [s.user_name for s in everyone] == ["ana", "ana", "bob", "ana"]
    mine = await env.ledger.list_calls(user_id=env.ana, limit=2)
    assert [s.call.id for s in mine] == [opened[3].id, opened[2].id]
    rest = await env.ledger.list_calls(user_id=env.ana, limit=2, before=mine[-1].call.started_at)
    assert [s.call.id for s in rest] == [opened[0].id]
    assert await env.ledger.list_calls(user_id=env.bob, before=T0) == []


async def test_first_words_follow_the_conversation_not_the_recording(env: Env) -> None:
    call = await env.ledger.open_call(new_call(env.ana))
    long_text = "  Tell me   about " + "the weather in Lisbon " * 10
    # Recorded out of order (a re-attached sideband fetches the first turn late).
    await env.ledger.record_item(call.id, reply("it_2", "Sure.", previous="it_1"))
    await env.ledger.record_item(call.id, user_item("it_3", "And tomorrow?", previous="it_2"))
    await env.ledger.record_item(call.id, CallItem("it_0", "user", "message", None, "completed"))
    await env.ledger.record_item(call.id, user_item("it_1", long_text, previous="it_0"))
    (summary,) = await env.ledger.list_calls()
    assert summary.items == 4
    assert summary.first_words is not None
    assert summary.first_words.startswith("Tell me about the weather in Lisbon the weather")
    assert summary.first_words.endswith("…") and len(summary.first_words) <= 80
    detail = await env.ledger.call_detail(call.id)
    assert detail is not None
    assert [i.item_id for i in detail.items] == ["it_0", "it_1", "it_2", "it_3"]
    assert detail.items[1].text == long_text  # the detail keeps the whole text
    assert detail.summary.first_words == summary.first_words


async def test_prune_blanks_old_transcripts_and_keeps_usage(env: Env) -> None:
    old = await env.ledger.open_call(new_call(env.ana, "rtc_old", T0))
    recent = await env.ledger.open_call(new_call(env.ana, "rtc_recent", T0))
    live = await env.ledger.open_call(new_call(env.ana, "rtc_live", T0))
    for call in (old, recent, live):
        await env.ledger.record_item(call.id, user_item("it_1", "secret words"))
        await env.ledger.record_response(
            call.id, CallResponse("resp_1", "completed", {"t": 1}, Decimal("0.3"))
        )
    await env.ledger.end_call(old.id, "hangup", T0 + timedelta(minutes=1))
    await env.ledger.end_call(recent.id, "hangup", T0 + timedelta(days=40))
    cutoff = T0 + timedelta(days=30)
    assert await env.ledger.prune_transcripts(cutoff) == 1
    assert await env.ledger.prune_transcripts(cutoff) == 0
    pruned = await env.ledger.call_detail(old.id)
    assert pruned is not None
    assert pruned.items[0].text is None and pruned.summary.first_words is None
    assert pruned.responses[0].usage == {"t": 1} and pruned.summary.cost_usd == Decimal("0.3")
    for call in (recent, live):
        kept = await env.ledger.call_detail(call.id)
        assert kept is not None and kept.items[0].text == "secret words"


async def test_delete_call_removes_everything(env: Env) -> None:
    call = await env.ledger.open_call(new_call(env.ana))
    await env.ledger.record_item(call.id, user_item("it_1", "hi"))
    await env.ledger.record_response(call.id, CallResponse("resp_1", "completed", {}, None))
    await env.ledger.record_transcription(call.id, Transcription("it_1", None, None, {}, None))
    assert await env.ledger.delete_call(call.id)
    assert not await env.ledger.delete_call(call.id)
    assert await env.ledger.call_detail(call.id) is None
    for table in (call_items, call_responses, call_transcriptions):
        assert await count(env.db, table, call.id) == 0
    # Opening the same upstream call again is a new call.
    assert (await env.ledger.open_call(new_call(env.ana))).id != call.id
