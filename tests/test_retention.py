"""Retention on every SQL backend: old transcripts are blanked, usage and cost stay, new calls kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from voxgate.adapters.sql import AccountStore, Database, LedgerStore, TicketStore
from voxgate.control.retention import Retention
from voxgate.core.ledger import CallItem, CallResponse, NewCall

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


async def test_old_transcripts_are_pruned_and_their_cost_kept(database_url: str) -> None:
    db = Database(database_url)
    await db.migrate()
    try:
        user = await AccountStore(db).create_user("rita")
        ledger = LedgerStore(db)
        tickets = TicketStore(db)
        old = await ledger.open_call(
            NewCall(
                "rtc_old", user.id, "relay", "gpt-realtime-2.1", "marin", None, started_at=NOW - timedelta(40)
            )
        )
        new = await ledger.open_call(
            NewCall(
                "rtc_new", user.id, "relay", "gpt-realtime-2.1", "marin", None, started_at=NOW - timedelta(2)
            )
        )
        for call in (old, new):
            await ledger.record_item(
                call.id, CallItem("item_1", "user", "message", "my secret plans", "completed")
            )
            await ledger.record_response(
                call.id, CallResponse("resp_1", "completed", {"total_tokens": 9}, Decimal("0.25"))
            )
        await ledger.end_call(old.id, "hangup", NOW - timedelta(40))
        await ledger.end_call(new.id, "hangup", NOW - timedelta(2))
        expired, _ = await tickets.issue(user.id, {"type": "realtime"}, timedelta(seconds=-1))
        retention = Retention(
            ledger, keep=timedelta(days=30), interval_s=3600, purge_tickets=tickets.purge_expired
        )

        assert await retention.prune_once(NOW) == 1
        pruned = await ledger.call_detail(old.id)
        kept = await ledger.call_detail(new.id)
        assert pruned is not None and kept is not None
        assert [item.text for item in pruned.items] == [None]
        assert pruned.summary.cost_usd == Decimal("0.25")
        assert pruned.responses[0].usage == {"total_tokens": 9}
        assert [item.text for item in kept.items] == ["my secret plans"]
        assert await tickets.redeem(expired) is None
        # A second pass finds nothing more to do.
        assert await retention.prune_once(NOW) == 0
    finally:
        await db.aclose()
