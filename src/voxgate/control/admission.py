"""Admission: whether a user may mint a secret or start a call now, and the place a call holds while live.

Minting is refused when a budget cannot cover ``admission_minutes`` at the model's rate (what is spent,
plus what the user's live calls hold in reserve). Relaying also takes a slot: under the per-user and total
caps of live calls, with the same budget check made atomically with the other replicas' calls (one Redis
script). The slot holds the call's reservation until the supervisor releases it at the call's end.

Per request this costs one primary-key read of the user's overrides, then (only when a budget applies)
the spend query, and for a relay one Redis round trip.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from voxgate.adapters import metrics
from voxgate.adapters.call_slots import Admit, SlotStore
from voxgate.adapters.sql.budgets import BudgetStore
from voxgate.core.budgets import (
    BudgetExhausted,
    BudgetLimits,
    Spend,
    Standing,
    minute_estimate,
    standings,
)
from voxgate.core.prices import PriceTable
from voxgate.errors import RateLimited

__all__ = ["Admission", "AdmissionConfig", "TooManyCalls"]

#: What a refusal for a full cap tells clients to wait, in seconds (calls have no known end).
CAP_RETRY_AFTER_S = 5


class TooManyCalls(RateLimited):
    """429 ``too_many_calls``: the per-user or total cap of live calls is reached."""

    default_code = "too_many_calls"


@dataclass(frozen=True, slots=True)
class AdmissionConfig:
    """The defaults every user starts from, and the caps."""

    defaults: BudgetLimits
    global_usd_per_day: Decimal | None
    admission_minutes: Decimal
    per_user: int
    total: int | None
    slot_ttl_s: float = 30.0


class Admission:
    """Decides admissions; the supervisor renews, reconciles and releases the slots it takes."""

    def __init__(
        self, *, budgets: BudgetStore, slots: SlotStore, prices: PriceTable, config: AdmissionConfig
    ) -> None:
        self.budgets = budgets
        self.slots = slots
        self.config = config
        self._prices = prices

    async def limits(self, user_id: int) -> BudgetLimits:
        """The user's limits: the defaults with their stored overrides."""
        return self.config.defaults.overridden(await self.budgets.overrides(user_id))

    async def _spent(self, user_id: int, limits: BudgetLimits, now: datetime) -> Spend:
        """The recorded spend, querying only what a set limit needs."""
        return await self.budgets.spent(
            user_id,
            now,
            usd=limits.usd_per_day is not None or limits.usd_per_month is not None,
            minutes=limits.minutes_per_day is not None,
            everyone=self.config.global_usd_per_day is not None,
        )

    def _limited(self, limits: BudgetLimits) -> bool:
        return any(
            v is not None
            for v in (
                limits.usd_per_day,
                limits.usd_per_month,
                limits.minutes_per_day,
                self.config.global_usd_per_day,
            )
        )

    def estimate(self, model: str | None) -> Decimal:
        """USD reserved for a new call on ``model`` (0 when its price is unknown)."""
        per_minute = minute_estimate(self._prices, model)
        return per_minute * self.config.admission_minutes if per_minute is not None else Decimal(0)

    async def standing(
        self, user_id: int, *, exclude: str | None = None, now: datetime | None = None
    ) -> list[Standing]:
        """Each of the user's limits with what counts against it now: spent plus live reservations."""
        now = now or datetime.now(UTC)
        limits = await self.limits(user_id)
        if not self._limited(limits):
            return []
        spent = await self._spent(user_id, limits, now)
        mine, everyone = await self.slots.reserved(user_id, exclude)
        total = Spend(
            spent.usd_day + mine, spent.usd_month + mine, spent.minutes_day, spent.global_usd_day + everyone
        )
        return standings(limits, self.config.global_usd_per_day, total, now)

    async def check_mint(self, user_id: int, model: str | None) -> None:
        """Refuse (429 ``budget_exhausted``) when a budget cannot cover the minimum; takes no slot."""
        now = datetime.now(UTC)
        items = await self.standing(user_id, now=now)
        if not items:
            return
        need = self.estimate(model)
        minutes = self.config.admission_minutes
        for item in items:
            extra = minutes if item.limit_name == "user_minutes_per_day" else need
            if item.used + extra > item.limit or item.used >= item.limit:
                metrics.budget_refused(item.limit_name)
                raise BudgetExhausted(item, now)

    async def admit_call(self, user_id: int, model: str | None, call_id: str) -> None:
        """Take a live-call slot for ``call_id`` (caps and budgets, atomically across replicas)."""
        now = datetime.now(UTC)
        limits = await self.limits(user_id)
        user_usd: list[tuple[Decimal, Decimal]] = []
        global_usd: list[tuple[Decimal, Decimal]] = []
        minutes: tuple[Decimal, Decimal, Decimal] | None = None
        items: list[Standing] = []
        if self._limited(limits):
            items = standings(
                limits, self.config.global_usd_per_day, await self._spent(user_id, limits, now), now
            )
            for item in items:
                pair = (item.used, item.limit)
                if item.limit_name in ("user_usd_per_day", "user_usd_per_month"):
                    user_usd.append(pair)
                elif item.limit_name == "global_usd_per_day":
                    global_usd.append(pair)
                else:
                    minutes = (item.used, item.limit, self.config.admission_minutes)
        admit = Admit(
            user_id=user_id,
            call_id=call_id,
            ttl_s=self.config.slot_ttl_s,
            per_user=self.config.per_user,
            total=self.config.total,
            estimate=self.estimate(model),
            user_usd=tuple(user_usd),
            global_usd=tuple(global_usd),
            minutes=minutes,
        )
        refusal = await self.slots.take(admit)
        if refusal is None:
            return
        metrics.budget_refused(refusal.partition(":")[0])
        if refusal == "per_user":
            raise TooManyCalls(
                f"You have {self.config.per_user} calls live already, the most allowed; end one first.",
                retry_after=CAP_RETRY_AFTER_S,
            )
        if refusal == "total":
            raise TooManyCalls(
                "The service has as many live calls as it allows; try again shortly.",
                retry_after=CAP_RETRY_AFTER_S,
            )
        names = {"user_usd": ("user_usd_per_day", "user_usd_per_month"), "minutes": ("user_minutes_per_day",)}
        kind, _, index = refusal.partition(":")
        wanted = [i for i in items if i.limit_name in names.get(kind, ("global_usd_per_day",))]
        raise BudgetExhausted(wanted[int(index or 0)] if wanted else items[0], now)

    async def release(self, user_id: int, call_id: str) -> None:
        """Free a call's slot (its end, or its failure to start)."""
        await self.slots.release(user_id, call_id)
