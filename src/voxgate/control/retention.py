"""Retention: transcripts older than the configured days are blanked (usage and cost stay), and expired
relay tickets are dropped, by one periodic task per replica.

Every replica runs it: each pass is one idempotent ``UPDATE``/``DELETE``, so doing it twice costs nothing
and no coordination is needed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from voxgate.core.ledger import Ledger

__all__ = ["Retention"]

log = logging.getLogger("voxgate.retention")


class Retention:
    """Owns the periodic prune task: :meth:`start` it, :meth:`aclose` it."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        keep: timedelta,
        interval_s: float,
        purge_tickets: Callable[[], Awaitable[int]] | None = None,
    ) -> None:
        self._ledger = ledger
        self._keep = keep
        self._interval = interval_s
        self._purge_tickets = purge_tickets
        self._task: asyncio.Task[None] | None = None

    async def prune_once(self, now: datetime | None = None) -> int:
        """One pass; returns how many calls had their transcripts pruned."""
        cutoff = (now or datetime.now(UTC)) - self._keep
        pruned = await self._ledger.prune_transcripts(cutoff)
        if pruned:
            log.info("pruned the transcripts of %d calls that ended before %s", pruned, cutoff.isoformat())
        if self._purge_tickets is not None:
            await self._purge_tickets()
        return pruned

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="retention")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)  # not at startup: see Supervisor._scan_loop
            try:
                await self.prune_once()
            except Exception:
                log.warning("retention pass failed; will retry", exc_info=True)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
