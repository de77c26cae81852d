"""Audit rows written in batches: one transaction for every row and completion waiting at that moment.

A mint or relay writes its row before it answers (``pending`` before the upstream call, or whole when
there is none) and waits for that row's commit: what is committed survives any kill. Requests arriving
together share one transaction (group commit: while one batch commits, the next gathers), so under load
the cost per request falls to a share of one ``INSERT … VALUES (…), (…)`` and SQLite's single writer is
not fought over. Completions (``pending`` → the outcome) are not waited for: they ride with the next
batch. A kill before that batch leaves the row ``pending``, which records an attempt whose outcome the
kill took with it; no row is lost. Each batch is one transaction through the database's
:class:`~voxgate.adapters.sql.writer.Writer` (on SQLite, one hop to its thread).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import Connection, bindparam, insert, update

from voxgate.adapters.sql.tables import mint_audit
from voxgate.adapters.sql.writer import Writer

__all__ = ["AuditBatcher"]

log = logging.getLogger("voxgate.audit")


#: The longest a success's completion waits for a batch to ride with, in seconds.
COMPLETION_DELAY_S = 0.05


class AuditBatcher:
    """Group-commits audit inserts (awaited) and completions (not awaited) on its own task."""

    def __init__(self, writer: Writer) -> None:
        self._writer = writer
        self._new: list[tuple[dict[str, Any], asyncio.Future[int]]] = []
        self._done: dict[int, tuple[str, int]] = {}
        self._done_waiting: list[asyncio.Future[None]] = []
        self._task: asyncio.Task[None] | None = None
        self._later: asyncio.TimerHandle | None = None

    async def insert(self, values: dict[str, Any]) -> int:
        """Write one row (the columns of ``mint_audit``) and return its id once committed."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._new.append((values, future))
        self._kick()
        return await future

    def complete(self, row_id: int, outcome: str, status: int, *, soon: bool = True) -> asyncio.Future[None]:
        """Record a pending row's outcome with the next batch; the future (which nobody has to await)
        resolves once it is committed. ``soon=False``: the outcome may wait up to
        :data:`COMPLETION_DELAY_S` for a batch to ride with (one request at a time, the next request's
        row), rather than take a transaction of its own."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._done[row_id] = (outcome, status)
        self._done_waiting.append(future)
        if soon:
            self._kick()
        elif self._later is None:
            self._later = asyncio.get_running_loop().call_later(COMPLETION_DELAY_S, self._kick)
        return future

    def _kick(self) -> None:
        if self._later is not None:  # the batch about to run takes the waiting completions along
            self._later.cancel()
            self._later = None
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain(), name="audit-batches")

    async def _drain(self) -> None:
        while self._new or self._done:
            new, self._new = self._new, []
            done, self._done = self._done, {}
            done_waiting, self._done_waiting = self._done_waiting, []
            try:
                ids = await self._write(new, done)
            except Exception as exc:  # reported to each waiting request; completions stay pending
                if done:
                    log.warning("%d audit completions not written (rows stay pending): %s", len(done), exc)
                waiting: list[asyncio.Future[Any]] = [future for _, future in new]
                for future in [*waiting, *done_waiting]:
                    if not future.done():
                        future.set_exception(exc)
                        future.exception()  # nobody may be awaiting a completion: no "never retrieved"
                continue
            for (_, future), row_id in zip(new, ids, strict=True):
                if not future.done():
                    future.set_result(row_id)
            for completed in done_waiting:
                if not completed.done():
                    completed.set_result(None)

    async def _write(
        self, new: list[tuple[dict[str, Any], asyncio.Future[int]]], done: dict[int, tuple[str, int]]
    ) -> list[int]:
        rows = [values for values, _ in new]
        changes = [
            {"row_id": row_id, "new_outcome": outcome[:64], "new_status": status}
            for row_id, (outcome, status) in done.items()
        ]
        return await self._writer.run(lambda conn: _write_batch(conn, rows, changes))

    async def flush(self) -> None:
        """Wait until everything queued is written (at shutdown)."""
        if self._done:
            self._kick()
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)


# Built once: the rows and changes go as parameters (building a statement per batch cost more CPU than
# executing it).
_INSERT = insert(mint_audit).returning(mint_audit.c.id, sort_by_parameter_order=True)
_COMPLETE = (
    update(mint_audit)
    .where(mint_audit.c.id == bindparam("row_id"))
    .values(outcome=bindparam("new_outcome"), status=bindparam("new_status"))
)


def _write_batch(conn: Connection, rows: list[dict[str, Any]], changes: list[dict[str, Any]]) -> list[int]:
    """One batch's statements, in the writer's transaction: the new rows' ids, in order."""
    ids: list[int] = []
    if rows:
        ids = [int(row_id) for row_id in conn.execute(_INSERT, rows).scalars().all()]
    if changes:
        conn.execute(_COMPLETE, changes)
    return ids
