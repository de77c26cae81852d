"""The audit row of one mint or relay attempt: written before the upstream call, completed after it.

Rows are written in batches shared by concurrent requests (:mod:`voxgate.adapters.sql.audit_batch`).

A kill between the upstream's answer and the row's completion leaves the row ``pending`` (status 0), so
every secret the upstream minted, and every call it opened, has a row, whatever happens to the process.
"""

from __future__ import annotations

from typing import Any

from voxgate.adapters.sql import AccountStore
from voxgate.core.accounts import MintRecord

__all__ = ["PENDING", "AttemptAudit"]

#: The outcome of an attempt whose upstream call has not answered (yet, or ever: the process died).
PENDING = "pending"


class AttemptAudit:
    """``begin()`` just before the upstream call, ``finish()`` once the outcome is known.

    ``record`` holds the row's fields (user_id, client_ip, ttl, model) and may be filled in until
    ``begin()``; an attempt that fails before it gets one complete row from ``finish()``."""

    def __init__(self, accounts: AccountStore, record: dict[str, Any]) -> None:
        self._accounts = accounts
        self._record = record
        self._row: int | None = None

    async def begin(self) -> None:
        """Write the pending row (committed before this returns)."""
        self._row = await self._accounts.record_mint(MintRecord(outcome=PENDING, status=0, **self._record))

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
