"""The synthetic probe's results in SQL (table ``probe_runs``, migration 0007)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import insert, select

from voxgate.adapters.sql.database import Database
from voxgate.adapters.sql.tables import probe_runs
from voxgate.core.probe import ProbeResult

__all__ = ["ProbeStore"]


class ProbeStore:
    """Records probe runs and reads them back by time."""

    def __init__(self, db: Database) -> None:
        self._engine = db.engine

    async def record(self, result: ProbeResult) -> None:
        """Store one run (``created_at`` defaults to now)."""
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(probe_runs).values(
                    created_at=result.created_at or datetime.now(UTC),
                    target=result.target[:64],
                    outcome=result.outcome[:32],
                    error=result.error[:300] if result.error else None,
                    wer=result.wer,
                    connect_ms=result.connect_ms,
                    first_audio_ms=result.first_audio_ms,
                    expected=result.expected,
                    heard=result.heard,
                )
            )

    async def between(self, start: datetime, end: datetime) -> Sequence[ProbeResult]:
        """Runs in ``[start, end)``, oldest first."""
        query = (
            select(probe_runs)
            .where(probe_runs.c.created_at >= start, probe_runs.c.created_at < end)
            .order_by(probe_runs.c.created_at, probe_runs.c.id)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [
            ProbeResult(
                target=row["target"],
                outcome=row["outcome"],
                expected=row["expected"],
                heard=row["heard"],
                wer=row["wer"],
                connect_ms=row["connect_ms"],
                first_audio_ms=row["first_audio_ms"],
                error=row["error"],
                created_at=row["created_at"],
            )
            for row in rows
        ]
