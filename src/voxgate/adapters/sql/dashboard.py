"""What the admin dashboard reads from SQL: plain rows over a time range, for :mod:`voxgate.core.dashboard`.

Each read selects only the columns a chart needs, bounded by the range (the dashboard caps it at 92
days) and by the indexes on ``created_at`` / ``started_at``. Amounts are summed in Python: SQL ``SUM``
over the text-stored money would go through floats.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select

from voxgate.adapters.sql.database import Database
from voxgate.adapters.sql.probes import ProbeStore
from voxgate.adapters.sql.tables import (
    call_responses,
    call_transcriptions,
    calls,
    client_reports,
    mint_audit,
    users,
)
from voxgate.core.probe import ProbeResult

__all__ = ["DashboardRows", "DashboardStore"]

#: Audit outcomes that mean a secret was handed out, and a call relayed.
MINTED_OUTCOME = "ok"
RELAYED_OUTCOME = "relayed"


@dataclass
class DashboardRows:
    """Everything the dashboard charts, as rows."""

    minted: list[datetime] = field(default_factory=list)
    relayed: list[datetime] = field(default_factory=list)
    # (when, worked, total connect ms, first audio ms) per console connect report
    connects: list[tuple[datetime, bool, float | None, float | None]] = field(default_factory=list)
    # (when, user name, USD) per priced response or transcription
    costs: list[tuple[datetime, str, Decimal]] = field(default_factory=list)
    calls: list[tuple[datetime, datetime | None]] = field(default_factory=list)
    live_now: int = 0
    probes: Sequence[ProbeResult] = ()


def _ms(steps: Any, key: str) -> float | None:
    value = steps.get(key) if isinstance(steps, dict) else None
    return float(value) if isinstance(value, int | float) else None


class DashboardStore:
    """Reads the dashboard's rows."""

    def __init__(self, db: Database) -> None:
        self._engine = db.engine
        self._probes = ProbeStore(db)

    async def rows(self, start: datetime, end: datetime) -> DashboardRows:
        """The rows of ``[start, end)``; calls that overlap it at all, and the calls live now."""
        out = DashboardRows()
        audit = select(mint_audit.c.created_at, mint_audit.c.outcome).where(
            mint_audit.c.created_at >= start,
            mint_audit.c.created_at < end,
            mint_audit.c.outcome.in_((MINTED_OUTCOME, RELAYED_OUTCOME)),
        )
        reports = select(client_reports.c.created_at, client_reports.c.outcome, client_reports.c.steps).where(
            client_reports.c.created_at >= start,
            client_reports.c.created_at < end,
            client_reports.c.event == "connect",
        )
        overlapping = select(calls.c.started_at, calls.c.ended_at).where(
            calls.c.started_at < end, or_(calls.c.ended_at.is_(None), calls.c.ended_at >= start)
        )
        live = select(func.count()).select_from(calls).where(calls.c.ended_at.is_(None))
        async with self._engine.connect() as conn:
            for moment, outcome in (await conn.execute(audit)).all():
                (out.minted if outcome == MINTED_OUTCOME else out.relayed).append(moment)
            for moment, outcome, steps in (await conn.execute(reports)).all():
                worked = outcome == "ok"
                out.connects.append((moment, worked, _ms(steps, "total_ms"), _ms(steps, "first_audio_ms")))
            out.calls = [(row[0], row[1]) for row in (await conn.execute(overlapping)).all()]
            out.live_now = int((await conn.execute(live)).scalar_one())
            for table in (call_responses, call_transcriptions):
                priced = (
                    select(table.c.created_at, users.c.name, table.c.cost_usd)
                    .join(calls, calls.c.id == table.c.call_id)
                    .join(users, users.c.id == calls.c.user_id)
                    .where(
                        table.c.created_at >= start, table.c.created_at < end, table.c.cost_usd.is_not(None)
                    )
                )
                out.costs.extend((row[0], row[1], row[2]) for row in (await conn.execute(priced)).all())
        out.probes = await self._probes.between(start, end)
        return out
