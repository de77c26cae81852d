"""The ledger keeps one cumulative usage row per GPT-Live call: replaced, never summed, final once
closed, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from voxgate.adapters.sql import AccountStore, Database, LedgerStore
from voxgate.core.ledger import CallRecord, CallResponse, NewCall
from voxgate.core.live_cost import LIVE_USAGE_ID, live_cost
from voxgate.core.prices import default_prices

PRICES = default_prices()


@pytest.fixture
async def ledger_call(database_url: str) -> AsyncIterator[tuple[LedgerStore, CallRecord]]:
    db = Database(database_url)
    await db.migrate()
    user = await AccountStore(db).create_user("ana")
    ledger = LedgerStore(db)
    call = await ledger.open_call(
        NewCall("live_abc", user.id, "relay", "gpt-live-1.1", "marin", None, api="live")
    )
    try:
        yield ledger, call
    finally:
        await db.aclose()


def usage(status: str, **fields: Any) -> CallResponse:
    return CallResponse(
        LIVE_USAGE_ID, status, fields, live_cost(PRICES, "gpt-live-1.1", fields), "gpt-live-1.1"
    )


async def recorded(ledger: LedgerStore, call: CallRecord) -> tuple[list[Any], Decimal | None]:
    detail = await ledger.call_detail(call.id)
    assert detail is not None
    return [(r.status, r.usage) for r in detail.responses], detail.summary.cost_usd


async def test_usage_advances_and_is_never_summed(ledger_call: tuple[LedgerStore, CallRecord]) -> None:
    ledger, call = ledger_call
    assert call.api == "live"
    await ledger.record_usage(call.id, usage("in_progress", seconds=0))
    assert await recorded(ledger, call) == ([("in_progress", {"seconds": 0})], Decimal("0.0125"))
    await ledger.record_usage(call.id, usage("in_progress", seconds=30))
    await ledger.record_usage(call.id, usage("in_progress", seconds=60))
    # A replayed (older) usage, e.g. from a re-attached sideband, does not move it back.
    await ledger.record_usage(call.id, usage("in_progress", seconds=30))
    assert await recorded(ledger, call) == ([("in_progress", {"seconds": 60})], Decimal("0.05"))


async def test_the_final_usage_wins_and_stays(ledger_call: tuple[LedgerStore, CallRecord]) -> None:
    ledger, call = ledger_call
    await ledger.record_usage(call.id, usage("in_progress", seconds=75))
    # The close's usage is final even with fewer seconds (standby is counted apart, the total is its own).
    final = usage("completed", seconds=72, active_seconds=42, paused_seconds=30)
    await ledger.record_usage(call.id, final)
    await ledger.record_usage(call.id, usage("in_progress", seconds=90))
    await ledger.record_usage(call.id, usage("completed", seconds=99))
    rows, cost = await recorded(ledger, call)
    assert rows == [("completed", {"seconds": 72, "active_seconds": 42, "paused_seconds": 30})]
    assert cost == Decimal("0.045")  # 42 s at 0.05/min + 30 s at 0.02/min
