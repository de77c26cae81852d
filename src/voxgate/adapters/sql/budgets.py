"""Budgets in SQL: each user's overrides of the default limits, and what the ledger says was spent.

Spend is read from the ledger itself (responses and transcriptions, priced when recorded), so there is
one source of truth: a replica that restarts or a Redis that is flushed loses nothing. Amounts are summed
in SQL on PostgreSQL (NUMERIC) and in Python on SQLite (where Money is decimal text).

Overrides are read on every mint and relay (admission), and change only when an administrator sets them:
with a ``cache`` they are answered from memory under the revocation epoch (:mod:`voxgate.adapters.authcache`),
which every change moves after its commit, so a change made anywhere (another replica, the CLI) applies
from the next request on, as a revocation does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, func, select, union_all

from voxgate.adapters.authcache import CredentialCache
from voxgate.adapters.sql.database import Database
from voxgate.adapters.sql.tables import (
    call_responses,
    call_transcriptions,
    calls,
    dialect_insert,
    user_budgets,
)
from voxgate.core.budgets import Spend, day_start, month_start

__all__ = ["BUDGET_FIELDS", "BudgetStore"]

BUDGET_FIELDS = ("usd_per_day", "usd_per_month", "minutes_per_day")


def _now() -> datetime:
    return datetime.now(UTC)


class BudgetStore:
    """Budget overrides and spend, over one :class:`Database` (which it does not own)."""

    def __init__(self, db: Database, cache: CredentialCache[dict[str, Decimal | None]] | None = None) -> None:
        self._engine = db.engine
        self._pg = db.engine.dialect.name == "postgresql"
        self._cache = cache

    # -- overrides ---------------------------------------------------------------------------------

    async def overrides(self, user_id: int) -> dict[str, Decimal | None]:
        """The limits stored for ``user_id`` (only the fields set for it; None lifts a limit)."""
        if self._cache is None:
            return (await self.all_overrides([user_id])).get(user_id, {})
        epoch = await self._cache.epoch()
        if (hit := self._cache.get(str(user_id), epoch)) is not None:
            return dict(hit)
        stored = (await self.all_overrides([user_id])).get(user_id, {})
        self._cache.put(str(user_id), stored, epoch)
        return dict(stored)

    async def all_overrides(
        self, user_ids: Sequence[int] | None = None
    ) -> dict[int, dict[str, Decimal | None]]:
        """Stored limits per user (every user's, or those of ``user_ids``)."""
        query = select(user_budgets)
        if user_ids is not None:
            query = query.where(user_budgets.c.user_id.in_(list(user_ids)))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return {
            row["user_id"]: {name: _plain(row[name]) for name in row["fields"] if name in BUDGET_FIELDS}
            for row in rows
        }

    async def set_overrides(
        self, user_id: int, values: dict[str, Decimal | None]
    ) -> dict[str, Decimal | None]:
        """Merge ``values`` into ``user_id``'s stored limits; returns what is stored now."""
        current = await self.overrides(user_id)
        merged = {**current, **{k: v for k, v in values.items() if k in BUDGET_FIELDS}}
        row: dict[str, Any] = {name: merged.get(name) for name in BUDGET_FIELDS}
        row.update(user_id=user_id, fields=sorted(merged), updated_at=_now())
        stmt = dialect_insert(user_budgets, self._engine.dialect.name).values(**row)
        stmt = stmt.on_conflict_do_update(
            index_elements=[user_budgets.c.user_id], set_={k: v for k, v in row.items() if k != "user_id"}
        )
        async with self._engine.begin() as conn:
            await conn.execute(stmt)
        await self._changed()
        return merged

    async def clear_overrides(self, user_id: int) -> None:
        """Back to the defaults."""
        async with self._engine.begin() as conn:
            await conn.execute(delete(user_budgets).where(user_budgets.c.user_id == user_id))
        await self._changed()

    async def _changed(self) -> None:
        """After a change committed: every replica's cached overrides are forgotten."""
        if self._cache is not None:
            await self._cache.revoked()

    # -- spend ---------------------------------------------------------------------------------------

    def _costs(self, since: datetime, *where: ColumnElement[bool]) -> Select[Any]:
        parts = [
            select(table.c.cost_usd.label("cost"), table.c.created_at.label("at"))
            .join(calls, calls.c.id == table.c.call_id)
            .where(table.c.created_at >= since, table.c.cost_usd.is_not(None), *where)
            for table in (call_responses, call_transcriptions)
        ]
        return union_all(*parts).subquery().select()

    async def _sums(self, query: Select[Any], day: datetime) -> tuple[Decimal, Decimal]:
        """(since the day began, over the whole query) of the costs ``query`` selects."""
        async with self._engine.connect() as conn:
            if self._pg:
                sub = query.subquery()
                today = func.coalesce(func.sum(sub.c.cost).filter(sub.c.at >= day), 0)
                row = (await conn.execute(select(today, func.coalesce(func.sum(sub.c.cost), 0)))).one()
                return Decimal(row[0]), Decimal(row[1])
            rows = (await conn.execute(query)).all()
        total = sum((Decimal(str(cost)) for cost, _ in rows), Decimal(0))
        today_sum = sum((Decimal(str(cost)) for cost, at in rows if _aware(at) >= day), Decimal(0))
        return today_sum, total

    async def spent(
        self,
        user_id: int,
        now: datetime | None = None,
        *,
        usd: bool = True,
        minutes: bool = True,
        everyone: bool = True,
    ) -> Spend:
        """What the ledger recorded: the user's USD today and this month, their minutes of calls today
        (live calls count up to now), and everyone's USD today. A part not asked for (its limit is not
        set) is not queried and reads 0."""
        now = now or _now()
        day, month = day_start(now), month_start(now)
        zero = Decimal(0)
        usd_day, usd_month = (
            await self._sums(self._costs(month, calls.c.user_id == user_id), day) if usd else (zero, zero)
        )
        global_day = (await self._sums(self._costs(day), day))[0] if everyone else zero
        used_minutes = await self.minutes(user_id, now) if minutes else zero
        return Spend(usd_day, usd_month, used_minutes, global_day)

    async def minutes(self, user_id: int, now: datetime | None = None) -> Decimal:
        """Minutes of the user's calls today (a call from before midnight counts from midnight)."""
        now = now or _now()
        day = day_start(now)
        query = select(calls.c.started_at, calls.c.ended_at).where(
            calls.c.user_id == user_id, (calls.c.ended_at.is_(None)) | (calls.c.ended_at >= day)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        seconds = sum(
            max(0.0, ((_aware(end) if end else now) - max(_aware(start), day)).total_seconds())
            for start, end in rows
        )
        return (Decimal(str(seconds)) / 60).quantize(Decimal("0.0001"))

    async def call_cost(self, call_id: str) -> Decimal:
        """What one call cost so far (unknown prices count nothing)."""
        query = self._costs(datetime.min.replace(tzinfo=UTC), calls.c.id == call_id)
        _, total = await self._sums(query, datetime.max.replace(tzinfo=UTC))
        return total


def _plain(value: Decimal | None) -> Decimal | None:
    """2.5 rather than the column's 2.5000000000 (and 10, not 1E+1)."""
    if value is None:
        return None
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
