"""The sweep: twice a second each replica ends the calls it watches whose user was disabled or whose key
was revoked, and carries out what an admin asked of its calls (an instruction; an end asked from the CLI).

Both requests reach the replica through the database, so they work whichever replica (or CLI) made them
and whichever replica watches the call: revocation ends a call within a sweep interval plus a hangup.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from voxgate.control.budget_guard import BudgetGuard
from voxgate.core.ledger import Ledger

__all__ = ["CallSweep", "instruction_event"]

log = logging.getLogger("voxgate.budgets")


def instruction_event(base: str, data: dict[str, Any]) -> dict[str, Any]:
    """The ``session.update`` that gives a live session an admin's instruction (added to the policy's
    instructions, or replacing them)."""
    text = str(data.get("instructions", ""))
    instructions = text if data.get("mode") == "replace" else f"{base}\n\n{text}".strip()
    return {"type": "session.update", "session": {"type": "realtime", "instructions": instructions}}


class CallSweep:
    """Runs the sweep for one replica until closed."""

    def __init__(
        self, guard: BudgetGuard, ledger: Ledger, *, base_instructions: str, interval_s: float = 0.5
    ) -> None:
        self._guard = guard
        self._ledger = ledger
        self._base = base_instructions
        self._interval = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start sweeping."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="call-sweep")

    async def aclose(self) -> None:
        """Stop sweeping."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def sweep(self) -> None:
        """One pass: revocations, then pending instructions, for the calls this replica watches."""
        watched = set(self._guard.watched)
        if not watched:
            return
        for call_id, reason in await self._guard.notices.revoked_live_calls():
            call = await self._ledger.get_call(call_id) if call_id in watched else None
            if call is not None and call.live:
                await self._guard.end(call, reason)
        for notice in await self._guard.notices.pending(sorted(watched)):
            # Marked first: two replicas (a lease changing hands) never send one instruction twice.
            if not await self._guard.notices.delivered(notice.id):
                continue
            if notice.kind == "end":  # asked from the CLI, which cannot reach the upstream itself
                call = await self._ledger.get_call(notice.call_id)
                if call is not None and call.live:
                    await self._guard.end(call, "admin_ended")
                continue
            sent = await self._guard.send(notice.call_id, instruction_event(self._base, notice.data))
            log.info("call %s: admin instruction %s", notice.call_id, "sent" if sent else "lost")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.sweep()
            except Exception:
                log.warning("call sweep failed; will retry", exc_info=True)
