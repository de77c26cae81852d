"""Relay tickets (``ek_vgt_…``), against every SQL backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from voxgate.adapters.sql import AccountStore, Database, TicketStore
from voxgate.adapters.sql.tables import relay_tickets
from voxgate.core import credentials
from voxgate.errors import NotFound

SESSION = {"type": "realtime", "model": "gpt-realtime-2.1", "audio": {"output": {"voice": "marin"}}}


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    await db.migrate()
    try:
        yield db
    finally:
        await db.aclose()


async def test_a_ticket_redeems_until_it_expires(db: Database) -> None:
    accounts, tickets = AccountStore(db), TicketStore(db)
    user = await accounts.create_user("ana")
    before = datetime.now(UTC)
    ticket, expires_at = await tickets.issue(user.id, SESSION, timedelta(minutes=1))
    assert ticket.startswith("ek_vgt_") and len(ticket) > 40
    assert before + timedelta(minutes=1) <= expires_at <= datetime.now(UTC) + timedelta(minutes=1)
    # Like an ek_ key, usable for several calls while it lasts.
    assert await tickets.redeem(ticket) == (user.id, SESSION)
    assert await tickets.redeem(ticket) == (user.id, SESSION)
    assert await tickets.redeem(ticket + "x") is None
    assert await tickets.redeem("vg_" + ticket[4:]) is None
    expired, _ = await tickets.issue(user.id, SESSION, timedelta(seconds=-1))
    assert await tickets.redeem(expired) is None


async def test_only_the_digest_is_stored(db: Database) -> None:
    accounts, tickets = AccountStore(db), TicketStore(db)
    user = await accounts.create_user("bob")
    ticket, _ = await tickets.issue(user.id, SESSION, timedelta(minutes=1))
    async with db.engine.connect() as conn:
        rows = (await conn.execute(select(relay_tickets))).mappings().all()
    assert [row["digest"] for row in rows] == [credentials.digest(ticket)]
    assert ticket not in repr(rows)


async def test_a_disabled_users_tickets_stop_working(db: Database) -> None:
    accounts, tickets = AccountStore(db), TicketStore(db)
    user = await accounts.create_user("cy")
    ticket, _ = await tickets.issue(user.id, SESSION, timedelta(minutes=1))
    await accounts.set_disabled("cy")
    assert await tickets.redeem(ticket) is None
    # Re-enabling the user brings back their keys, not the tickets handed out before.
    await accounts.set_disabled("cy", False)
    assert await tickets.redeem(ticket) is None
    with pytest.raises(NotFound):
        await tickets.issue(10_000, SESSION, timedelta(minutes=1))


async def test_purge_deletes_only_expired_tickets(db: Database) -> None:
    accounts, tickets = AccountStore(db), TicketStore(db)
    user = await accounts.create_user("dee")
    live, _ = await tickets.issue(user.id, SESSION, timedelta(minutes=1))
    for _ in range(3):
        await tickets.issue(user.id, SESSION, timedelta(seconds=-1))
    assert await tickets.purge_expired() == 3
    assert await tickets.purge_expired() == 0
    assert await tickets.redeem(live) == (user.id, SESSION)
