"""The budget guard: what the supervisor does about money and time on each call it watches.

After every ``response.done`` and transcription the call's cost moves from its reservation to what is
spent (reconcile), and the user's budgets are checked with the other live calls' reservations: at
``warn_at`` the person is told through the sideband (a response with fixed instructions, in the
conversation's language) and the page is told through a notice; at 100 % every live call of the user is
ended, with the budget and its reset time recorded for the page. A tick four times a second ends a call at the
maximum length (warning first), checks the budgets every ``check_s`` (minutes run on between
responses, an admin may lower a limit), and keeps the call's slot alive.

Each call's own future (its reservation) is left out when checking it, so overshoot is bounded by one
response per live call: the one in flight when the limit is reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from voxgate.adapters import metrics
from voxgate.adapters.sql.notices import NoticeStore
from voxgate.control.admission import Admission, TooManyCalls
from voxgate.core.budgets import BudgetExhausted, Standing, exhausted
from voxgate.core.ledger import CallRecord, Ledger

__all__ = ["BudgetGuard", "GuardConfig", "warning_event"]

log = logging.getLogger("voxgate.budgets")

Send = Callable[[dict[str, Any]], Awaitable[None]]
Hangup = Callable[[CallRecord, str], Awaitable[None]]

_NEARLY = {
    "user_usd_per_day": "your daily voice budget is nearly used up",
    "user_usd_per_month": "your monthly voice budget is nearly used up",
    "user_minutes_per_day": "your voice minutes for today are nearly used up",
    "global_usd_per_day": "the service's voice budget for today is nearly used up",
    "max_duration": "this call is about to reach its maximum length",
}


def warning_event(kind: str, api: str = "realtime") -> dict[str, Any]:
    """The sideband event that makes the assistant say the warning: an out-of-band response whose
    fixed instructions say what to tell, in the language of the conversation. GPT-Live has no
    responses to create: there the notice is commentary for the model to voice (reference §3)."""
    notice = f"Voxgate notice: {_NEARLY.get(kind, _NEARLY['user_usd_per_day'])}, and the call will end soon."
    if api == "live":
        return {"type": "session.commentary.append", "content": notice, "delegation_id": None}
    return {
        "type": "response.create",
        "response": {
            "conversation": "none",
            "instructions": (
                "Tell the user, in one short sentence and in the language you have been speaking with "
                f"them, exactly this: {notice}"
            ),
            "input": [
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": notice}]}
            ],
            "metadata": {"voxgate": "budget_warning"},
        },
    }


@dataclass(frozen=True, slots=True)
class GuardConfig:
    """When to warn and when a call is too long."""

    warn_at: Decimal = Decimal("0.9")
    max_minutes: float = 30.0
    tick_s: float = 0.25
    slot_ttl_s: float = 30.0
    # Budgets are also checked this often between responses (minutes run on; an admin lowers a limit).
    check_s: float = 2.0


@dataclass
class _Watched:
    call: CallRecord
    send: Send
    warned: set[str] = field(default_factory=set)
    ticker: asyncio.Task[None] | None = None


class BudgetGuard:
    """Hooks the supervisor calls for each watched call: attached, event, detached."""

    def __init__(
        self,
        *,
        admission: Admission,
        notices: NoticeStore,
        ledger: Ledger,
        config: GuardConfig,
        hangup: Hangup,
    ) -> None:
        self.admission = admission
        self.notices = notices
        self._ledger = ledger
        self._config = config
        self._hangup = hangup
        self._calls: dict[str, _Watched] = {}

    # ---- supervisor hooks --------------------------------------------------------------------------

    async def attached(self, call: CallRecord, send: Send) -> None:
        """A sideband to ``call`` is up: start its tick (time limits, the slot's renewal)."""
        old = self._calls.pop(call.id, None)
        watched = _Watched(call, send, old.warned if old else set())
        if old and old.ticker:
            old.ticker.cancel()
        watched.ticker = asyncio.create_task(self._tick(watched), name=f"guard-{call.id}")
        self._calls[call.id] = watched
        if call.mode == "ephemeral":
            await self._admit_reported(call)

    async def _admit_reported(self, call: CallRecord) -> None:
        """A call a console opened itself (ephemeral mode) takes its place now, as a relayed call did
        before it started: past a cap or a budget it is ended (idempotent for a call that has one)."""
        try:
            await self.admission.admit_call(call.user_id, call.model, call.id)
        except BudgetExhausted as refused:
            await self.end(
                call, "budget_exhausted", {**refused.standing.to_dict(), "words": refused.standing.words}
            )
        except TooManyCalls:
            await self.end(call, "too_many_calls", {"per_user": self.admission.config.per_user})

    async def on_event(self, call: CallRecord, event_type: str) -> None:
        """After the ledger recorded ``event_type``: reconcile and check the budgets on new costs."""
        # GPT-Live's cost moves with its cumulative usage, not with responses.
        costs = (
            "response.done",
            "conversation.item.input_audio_transcription.completed",
            "session.usage.updated",
        )
        if event_type not in costs:
            return
        # Checked first: the check leaves this call's own reservation out, and every moment before a
        # hang-up is one the call can spend in.
        await self._check(call)
        cost = await self.admission.budgets.call_cost(call.id)
        await self.admission.slots.reserve(
            call.id, max(Decimal(0), self.admission.estimate(call.model) - cost)
        )

    async def detached(self, call: CallRecord) -> None:
        """The watch ended: free the slot if the call is over (a shutdown keeps it for the next replica)."""
        watched = self._calls.pop(call.id, None)
        if watched and watched.ticker:
            watched.ticker.cancel()
            await asyncio.gather(watched.ticker, return_exceptions=True)
        latest = await self._ledger.get_call(call.id)
        if latest is None or not latest.live:
            await self.admission.release(call.user_id, call.id)

    async def send(self, call_id: str, event: dict[str, Any]) -> bool:
        """Send ``event`` on a watched call's sideband; False if this replica does not watch it."""
        watched = self._calls.get(call_id)
        if watched is None:
            return False
        await watched.send(event)
        return True

    @property
    def watched(self) -> list[str]:
        """Ids of the calls with a sideband up on this replica."""
        return list(self._calls)

    # ---- checks ------------------------------------------------------------------------------------

    async def _check(self, call: CallRecord) -> None:
        items = await self.admission.standing(call.user_id, exclude=call.id)
        used_up = exhausted(items)
        if used_up is not None:
            await self.end_user_calls(call.user_id, "budget_exhausted", used_up)
            return
        for item in items:
            if item.fraction >= self._config.warn_at:
                await self._warn(call, item.limit_name, item.to_dict())

    async def _warn(self, call: CallRecord, kind: str, data: dict[str, Any]) -> None:
        watched = self._calls.get(call.id)
        if watched is None or kind in watched.warned:
            return
        watched.warned.add(kind)
        await self.notices.add(call.id, "warning", {"kind": kind, **data})
        with contextlib.suppress(Exception):
            await watched.send(warning_event(kind, call.api))
        log.info("call %s: warned (%s)", call.id, kind)

    async def end(self, call: CallRecord, reason: str, data: dict[str, Any] | None = None) -> None:
        """End ``call`` for ``reason`` and tell its page why (once: the first to end a call says why)."""
        if not await self._ledger.end_call(call.id, reason):
            return
        # The page's notice and the upstream hang-up at once (the page waits a moment for the notice).
        await asyncio.gather(
            self.notices.add(call.id, "ended", {"reason": reason, **(data or {})}), self._hangup(call, reason)
        )
        metrics.budget_hung_up(str((data or {}).get("limit", reason)))
        log.info("call %s: ended (%s)", call.id, reason)

    async def end_user_calls(self, user_id: int, reason: str, standing: Standing | None = None) -> int:
        """End every live call of ``user_id`` (whichever replica watches it), all at once: each moment a
        call outlives the limit is a moment it can spend. How many were ended."""
        data = {**standing.to_dict(), "words": standing.words} if standing else {}
        mine = [live for live in await self._ledger.live_calls() if live.user_id == user_id]
        await asyncio.gather(*(self.end(live, reason, data) for live in mine))
        return len(mine)

    async def _tick(self, watched: _Watched) -> None:
        call, config = watched.call, self._config
        limit = timedelta(minutes=config.max_minutes)
        renewed = checked = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                elapsed = datetime.now(UTC) - call.started_at
                if elapsed >= limit:
                    await self.end(call, "max_duration", {"max_minutes": config.max_minutes})
                    return
                if elapsed >= limit * float(config.warn_at):
                    await self._warn(call, "max_duration", {"max_minutes": config.max_minutes})
                if loop.time() - renewed >= config.slot_ttl_s / 5:
                    renewed = loop.time()
                    await self.admission.slots.renew(call.user_id, call.id, config.slot_ttl_s)
                if loop.time() - checked >= config.check_s:
                    checked = loop.time()
                    await self._check(call)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("call %s: budget check failed; will retry", call.id, exc_info=True)
            await asyncio.sleep(config.tick_s)
