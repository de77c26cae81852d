"""Notices about live calls, shared by every replica through the database.

Two kinds of rows: what a call's page must hear of (``warning``, ``ended``, ``instruction`` sent), read
by the page's event stream whichever replica serves it; and what an admin asked of a call (``instruct``,
undelivered until the replica that watches the call sends it on the call's sideband). Also the query by
which every replica finds the live calls whose user was disabled or whose key was revoked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, select, update

from voxgate.adapters.sql.database import Database
from voxgate.adapters.sql.tables import api_keys, call_notices, calls, users

__all__ = ["Notice", "NoticeStore"]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Notice:
    """One row: its id orders the notices of a call."""

    id: int
    call_id: str
    kind: str
    data: dict[str, Any]
    created_at: datetime


def _notice(row: Any) -> Notice:
    return Notice(row["id"], row["call_id"], row["kind"], dict(row["data"]), row["created_at"])


class NoticeStore:
    """Call notices over one :class:`Database` (which it does not own)."""

    def __init__(self, db: Database) -> None:
        self._engine = db.engine

    async def add(self, call_id: str, kind: str, data: dict[str, Any], *, pending: bool = False) -> int:
        """Record a notice; ``pending`` ones wait for the call's watcher to deliver them."""
        values = {
            "call_id": call_id,
            "kind": kind,
            "data": data,
            "created_at": _now(),
            "delivered_at": None if pending else _now(),
        }
        async with self._engine.begin() as conn:
            result = await conn.execute(call_notices.insert().values(**values).returning(call_notices.c.id))
            return int(result.scalar_one())

    async def since(self, call_id: str, after_id: int = 0) -> Sequence[Notice]:
        """A call's delivered notices after ``after_id``, oldest first."""
        query = (
            select(call_notices)
            .where(
                call_notices.c.call_id == call_id,
                call_notices.c.id > after_id,
                call_notices.c.delivered_at.is_not(None),
            )
            .order_by(call_notices.c.id)
        )
        async with self._engine.connect() as conn:
            return [_notice(row) for row in (await conn.execute(query)).mappings().all()]

    async def pending(self, call_ids: Sequence[str]) -> Sequence[Notice]:
        """Undelivered requests (admin instructions) for any of ``call_ids``."""
        if not call_ids:
            return []
        query = (
            select(call_notices)
            .where(call_notices.c.call_id.in_(list(call_ids)), call_notices.c.delivered_at.is_(None))
            .order_by(call_notices.c.id)
        )
        async with self._engine.connect() as conn:
            return [_notice(row) for row in (await conn.execute(query)).mappings().all()]

    async def delivered(self, notice_id: int) -> bool:
        """Mark a pending notice delivered; False if another replica did already."""
        stmt = (
            update(call_notices)
            .where(call_notices.c.id == notice_id, call_notices.c.delivered_at.is_(None))
            .values(delivered_at=_now())
        )
        async with self._engine.begin() as conn:
            return (await conn.execute(stmt)).rowcount == 1

    async def revoked_live_calls(self) -> Sequence[tuple[str, str]]:
        """(call id, why) for every live call whose user is disabled or whose API key was revoked."""
        query = (
            select(calls.c.id, users.c.disabled, api_keys.c.revoked_at)
            .join(users, users.c.id == calls.c.user_id)
            .outerjoin(api_keys, api_keys.c.id == calls.c.api_key_id)
            .where(
                calls.c.ended_at.is_(None),
                or_(
                    users.c.disabled.is_(True),
                    and_(api_keys.c.id.is_not(None), api_keys.c.revoked_at.is_not(None)),
                ),
            )
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [(call_id, "user_disabled" if disabled else "key_revoked") for call_id, disabled, _ in rows]
