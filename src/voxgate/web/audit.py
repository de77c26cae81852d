"""The audit row of one mint or relay attempt: written before the upstream call, completed after it.

Rows are written in batches shared by concurrent requests (:mod:`voxgate.adapters.sql.audit_batch`).

The pending row is written while the upstream call runs (:meth:`AttemptAudit.alongside`), and what the
upstream answers reaches the client only once that row is committed: every secret a client received, and
every call a browser could connect to, has a row, whatever happens to the process. A kill between the
upstream's answer and the row's completion leaves the row ``pending`` (status 0). (A kill in the moment
before the row commits can leave a secret or a call the upstream made and nobody received: it expires
unused. Writing the row first cost the answer 0.85 ms of a relay's 5 ms budget in bench_relay.)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from voxgate.adapters.sql import AccountStore
from voxgate.core.accounts import MintRecord

__all__ = ["PENDING", "AttemptAudit"]

#: The outcome of an attempt whose upstream call has not answered (yet, or ever: the process died).
PENDING = "pending"

T = TypeVar("T")


class AttemptAudit:
    """``alongside(upstream call)`` (or ``begin()`` before it), ``finish()`` once the outcome is known.

    ``record`` holds the row's fields (user_id, client_ip, ttl, model) and may be filled in until
    ``begin()``; an attempt that fails before it gets one complete row from ``finish()``."""

    def __init__(self, accounts: AccountStore, record: dict[str, Any]) -> None:
        self._accounts = accounts
        self._record = record
        self._row: int | None = None

    async def begin(self) -> None:
        """Write the pending row (committed before this returns)."""
        self._row = await self._accounts.record_mint(MintRecord(outcome=PENDING, status=0, **self._record))

    async def alongside(self, call: Awaitable[T], undo: Callable[[T], Awaitable[None]] | None = None) -> T:
        """Write the pending row while ``call`` runs; return what ``call`` returns once the row is
        committed too. If the row cannot be written, ``call``'s result never reaches the client: ``undo``
        takes it back (a call hung up) and the row's error is raised."""
        begin = asyncio.ensure_future(self.begin())
        try:
            result = await call
        except BaseException:
            with contextlib.suppress(Exception):  # the attempt's own error is the one to report
                await begin
            raise
        try:
            await begin
        except BaseException:
            if undo is not None:
                with contextlib.suppress(Exception):
                    await undo(result)
            raise
        return result

    async def finish(self, outcome: str, status: int) -> None:
        """Complete the row, or write the whole row when the attempt never got as far. Committed before
        this returns, except a success's completion: that rides with the next audit batch, off the
        request's path (the pending row already covers a kill)."""
        if self._row is None:
            await self._accounts.record_mint(MintRecord(outcome=outcome, status=status, **self._record))
        elif status < 400:
            self._accounts.complete_mint_later(self._row, outcome, status)
        else:
            await self._accounts.complete_mint(self._row, outcome, status)
