"""What the admin console and CLI read and change beyond the account store: roles, the audit log with
paging and filters, and live calls with their users."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from voxgate.adapters.sql.database import Database
from voxgate.adapters.sql.store import check_text
from voxgate.adapters.sql.tables import calls, mint_audit, users
from voxgate.core.accounts import Role
from voxgate.errors import NotFound

__all__ = ["AdminStore", "AuditRow", "LiveCallRow"]


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One mint or relay attempt: who, when, from where, and how it went."""

    id: int
    created_at: datetime
    user_id: int | None
    user_name: str | None
    client_ip: str
    outcome: str
    status: int
    model: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": self.created_at.isoformat().replace("+00:00", "Z"),
            "user": self.user_name,
            "client_ip": self.client_ip,
            "outcome": self.outcome,
            "status": self.status,
            "model": self.model,
        }


@dataclass(frozen=True, slots=True)
class LiveCallRow:
    """A live call with its user's name."""

    id: str
    user_id: int
    user_name: str
    model: str | None
    mode: str
    started_at: datetime


class AdminStore:
    """Admin reads and writes over one :class:`Database` (which it does not own)."""

    def __init__(self, db: Database) -> None:
        self._engine = db.engine

    async def set_role(self, name: str, role: Role) -> None:
        """Make ``name`` an admin or a plain user."""
        check_text(name, "name", 200)
        async with self._engine.begin() as conn:
            result = await conn.execute(update(users).where(users.c.name == name).values(role=role))
        if result.rowcount == 0:
            raise NotFound(f"No user named {name!r}.", param="name")

    async def audit(
        self,
        *,
        limit: int = 50,
        before_id: int | None = None,
        user_id: int | None = None,
        outcome: str | None = None,
        failed_only: bool = False,
    ) -> Sequence[AuditRow]:
        """Newest first; ``before_id`` pages on (the last row's id of the previous page)."""
        query = (
            select(mint_audit, users.c.name.label("user_name"))
            .outerjoin(users, users.c.id == mint_audit.c.user_id)
            .order_by(mint_audit.c.id.desc())
            .limit(limit)
        )
        if before_id is not None:
            query = query.where(mint_audit.c.id < before_id)
        if user_id is not None:
            query = query.where(mint_audit.c.user_id == user_id)
        if outcome is not None:
            query = query.where(mint_audit.c.outcome == outcome)
        if failed_only:
            query = query.where(mint_audit.c.status >= 400)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [
            AuditRow(
                r["id"],
                r["created_at"],
                r["user_id"],
                r["user_name"],
                r["client_ip"],
                r["outcome"],
                r["status"],
                r["model"],
            )
            for r in rows
        ]

    async def live_calls(self) -> Sequence[LiveCallRow]:
        """Every live call, oldest first, with its user's name."""
        query = (
            select(calls.c.id, calls.c.user_id, users.c.name, calls.c.model, calls.c.mode, calls.c.started_at)
            .join(users, users.c.id == calls.c.user_id)
            .where(calls.c.ended_at.is_(None))
            .order_by(calls.c.started_at)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [LiveCallRow(*row) for row in rows]
