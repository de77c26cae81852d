"""Builds the budget services from Settings: admission, the guard on every watched call, the sweep."""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass

from voxgate.adapters.authcache import CredentialCache, RevocationEpoch
from voxgate.adapters.call_slots import open_slots
from voxgate.adapters.sql import Database, LedgerStore
from voxgate.adapters.sql.budgets import BudgetStore
from voxgate.adapters.sql.notices import NoticeStore
from voxgate.control.admission import Admission, AdmissionConfig
from voxgate.control.budget_guard import BudgetGuard, GuardConfig
from voxgate.control.budget_sweep import CallSweep
from voxgate.control.supervisor import Supervisor
from voxgate.core.budgets import BudgetLimits
from voxgate.core.prices import PriceTable
from voxgate.settings import Settings

__all__ = ["BudgetServices", "open_budget_services"]


@dataclass(frozen=True, slots=True)
class BudgetServices:
    """What the routes use for budgets, caps, live-call notices and admin actions on live calls."""

    admission: Admission
    guard: BudgetGuard
    notices: NoticeStore
    budgets: BudgetStore


def admission_config(settings: Settings) -> AdmissionConfig:
    """The defaults and caps from the settings."""
    budgets = settings.budgets
    return AdmissionConfig(
        defaults=BudgetLimits(
            budgets.user_usd_per_day, budgets.user_usd_per_month, budgets.user_minutes_per_day
        ),
        global_usd_per_day=budgets.global_usd_per_day,
        admission_minutes=budgets.admission_minutes,
        per_user=settings.calls.per_user,
        total=settings.calls.total,
    )


async def open_budget_services(
    settings: Settings,
    stack: AsyncExitStack,
    *,
    db: Database,
    ledger: LedgerStore,
    prices: PriceTable,
    supervisor: Supervisor,
    epoch: RevocationEpoch | None = None,
) -> BudgetServices:
    """Open the slots, hook the guard into ``supervisor`` and start the sweep. Call it before the
    supervisor's own close is registered, so the supervisor detaches while the slots are still open."""
    slots = open_slots(settings.redis_url, settings.redis_prefix)
    stack.push_async_callback(slots.aclose)
    # Overrides answered from memory under the revocation epoch (which the caller owns and closes).
    budgets = BudgetStore(db, CredentialCache(epoch))
    notices = NoticeStore(db)
    admission = Admission(budgets=budgets, slots=slots, prices=prices, config=admission_config(settings))
    guard = BudgetGuard(
        admission=admission,
        notices=notices,
        ledger=ledger,
        config=GuardConfig(warn_at=settings.budgets.warn_at, max_minutes=settings.calls.max_minutes),
        hangup=supervisor.hangup,
    )
    supervisor.guard = guard
    sweep = CallSweep(guard, ledger, base_instructions=settings.policy.instructions)
    sweep.start()
    # Registered after the slots: closed before them (the stack unwinds in reverse).
    stack.push_async_callback(sweep.aclose)
    return BudgetServices(admission, guard, notices, budgets)
