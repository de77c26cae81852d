"""Leases in the SQL database, for deployments without Redis (see :mod:`voxgate.adapters.leases`).

Each operation is one conditional statement, so it is atomic on SQLite (writes are serialised) and on
PostgreSQL (``INSERT … ON CONFLICT DO UPDATE … WHERE`` re-checks the condition against the row it
conflicts with, after waiting for any transaction writing it). Expiry times come from each replica's own
clock: replicas sharing a database need clocks synchronised (NTP) to well within a lease's length.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete as sql_delete
from sqlalchemy import or_, select, update

from voxgate.adapters.sql.database import Database
from voxgate.adapters.sql.tables import call_leases, dialect_insert

__all__ = ["SqlLeases"]


def _now() -> datetime:
    return datetime.now(UTC)


class SqlLeases:
    """:class:`voxgate.adapters.leases.LeaseStore` over the ``call_leases`` table.

    Names (``call:vgc_…``) may be up to 64 characters, holders up to 128.
    """

    def __init__(self, db: Database) -> None:
        self._engine = db.engine
        self._dialect = db.engine.dialect.name
        self._writer = db.writer  # each write is one short transaction: one hop (adapters/sql/writer.py)

    async def acquire(self, name: str, holder: str, ttl_s: float) -> bool:
        """Take the lease if it is free or expired, or renew it if ``holder`` has it already."""
        now = _now()
        insert = dialect_insert(call_leases, self._dialect).values(
            call_id=name, holder=holder, expires_at=now + timedelta(seconds=ttl_s)
        )
        table = call_leases.c
        stmt = insert.on_conflict_do_update(
            index_elements=[table.call_id],
            set_={"holder": insert.excluded.holder, "expires_at": insert.excluded.expires_at},
            where=or_(table.holder == holder, table.expires_at <= now),
        ).returning(table.holder)
        return await self._writer.run(lambda conn: conn.execute(stmt).first() is not None)

    async def renew(self, name: str, holder: str, ttl_s: float) -> bool:
        """Extend ``holder``'s lease; False if it has expired or someone else holds it."""
        now = _now()
        table = call_leases.c
        stmt = (
            update(call_leases)
            .where(table.call_id == name, table.holder == holder, table.expires_at > now)
            .values(expires_at=now + timedelta(seconds=ttl_s))
        )
        return await self._writer.run(lambda conn: conn.execute(stmt).rowcount == 1)

    async def release(self, name: str, holder: str) -> None:
        """Give the lease up, if ``holder`` has it (anyone else's release changes nothing)."""
        table = call_leases.c
        stmt = sql_delete(call_leases).where(table.call_id == name, table.holder == holder)
        await self._writer.run(lambda conn: conn.execute(stmt).close())

    async def holder(self, name: str) -> str | None:
        """Who holds the lease now, or None."""
        table = call_leases.c
        query = select(table.holder).where(table.call_id == name, table.expires_at > _now())
        async with self._engine.connect() as conn:
            return (await conn.execute(query)).scalar_one_or_none()

    async def aclose(self) -> None:
        """Nothing to release: the database belongs to whoever passed it in."""
