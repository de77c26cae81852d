"""Budgets: how much a user (and everyone together) may spend, and what is left (pure, no I/O).

A budget is a limit over a window that resets at a fixed UTC time: USD per user per day and per month,
minutes of calls per user per day, USD for everyone per day. What counts against it is what the ledger
recorded (spent) plus what live calls hold in reserve (an estimate taken at admission, reduced as their
responses are recorded). Admission needs room for ``admission_minutes`` at the model's rate in every
budget; a call is warned at ``warn_at`` of any budget and ended at 100 %.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from voxgate.core.prices import PriceTable
from voxgate.errors import RateLimited

__all__ = [
    "END_REASONS",
    "BudgetExhausted",
    "BudgetLimits",
    "Spend",
    "Standing",
    "day_start",
    "minute_estimate",
    "month_start",
    "standings",
]

LimitName = Literal["user_usd_per_day", "user_usd_per_month", "user_minutes_per_day", "global_usd_per_day"]

#: End reasons voxgate itself gives a call, beyond the ledger's own (hangup, upstream_closed…).
END_REASONS = (
    "budget_exhausted",
    "max_duration",
    "user_disabled",
    "key_revoked",
    "admin_ended",
    "too_many_calls",
)

# A minute of conversation, as the Realtime API bills audio: about 10 tokens a second heard, 20 spoken.
_AUDIO_IN_PER_MINUTE = 600
_AUDIO_OUT_PER_MINUTE = 1200
_MILLION = Decimal(1_000_000)

_WORDS: dict[str, str] = {
    "user_usd_per_day": "daily budget",
    "user_usd_per_month": "monthly budget",
    "user_minutes_per_day": "daily minutes",
    "global_usd_per_day": "service's daily budget",
}


def day_start(now: datetime) -> datetime:
    """00:00 UTC of ``now``'s day."""
    now = now.astimezone(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def month_start(now: datetime) -> datetime:
    """00:00 UTC on the first of ``now``'s month."""
    return day_start(now).replace(day=1)


def _next_month(now: datetime) -> datetime:
    start = month_start(now)
    return (start + timedelta(days=32)).replace(day=1)


def resets_at(limit: LimitName, now: datetime) -> datetime:
    """When the window of ``limit`` that contains ``now`` ends."""
    if limit == "user_usd_per_month":
        return _next_month(now)
    return day_start(now) + timedelta(days=1)


@dataclass(frozen=True, slots=True)
class BudgetLimits:
    """One user's limits (None: no limit)."""

    usd_per_day: Decimal | None = None
    usd_per_month: Decimal | None = None
    minutes_per_day: Decimal | None = None

    def overridden(self, override: dict[str, Decimal | None] | None) -> BudgetLimits:
        """These limits with a user's stored overrides applied (a key present with None lifts a limit)."""
        if not override:
            return self
        fields = {
            k: v for k, v in override.items() if k in ("usd_per_day", "usd_per_month", "minutes_per_day")
        }
        return replace(self, **fields)

    def to_dict(self) -> dict[str, str | None]:
        """JSON-ready: decimals as strings."""
        return {
            "usd_per_day": _text(self.usd_per_day),
            "usd_per_month": _text(self.usd_per_month),
            "minutes_per_day": _text(self.minutes_per_day),
        }


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class Spend:
    """What counts against the budgets now: recorded spend plus live calls' reservations."""

    usd_day: Decimal = Decimal(0)
    usd_month: Decimal = Decimal(0)
    minutes_day: Decimal = Decimal(0)
    global_usd_day: Decimal = Decimal(0)

    def plus(
        self, usd: Decimal = Decimal(0), minutes: Decimal = Decimal(0), *, global_usd: bool = True
    ) -> Spend:
        """This spend with ``usd`` and ``minutes`` more (of this user; ``global_usd``: of everyone too)."""
        return Spend(
            self.usd_day + usd,
            self.usd_month + usd,
            self.minutes_day + minutes,
            self.global_usd_day + (usd if global_usd else Decimal(0)),
        )


@dataclass(frozen=True, slots=True)
class Standing:
    """One limit's state: used, the limit, the share used and when it resets."""

    limit_name: LimitName
    used: Decimal
    limit: Decimal
    resets_at: datetime

    @property
    def fraction(self) -> Decimal:
        return self.used / self.limit if self.limit > 0 else Decimal(1)

    @property
    def left(self) -> Decimal:
        return max(Decimal(0), self.limit - self.used)

    @property
    def words(self) -> str:
        """'daily budget used up, resets at 00:00 UTC' (what the page and the error say)."""
        return f"{_WORDS[self.limit_name]} used up, resets at {_when(self.resets_at, self.limit_name)}"

    @property
    def message(self) -> str:
        """'Your daily budget is used up; it resets at 00:00 UTC.'"""
        whose = "The" if self.limit_name == "global_usd_per_day" else "Your"
        when = _when(self.resets_at, self.limit_name)
        return f"{whose} {_WORDS[self.limit_name]} is used up; it resets at {when}."

    def to_dict(self) -> dict[str, Any]:
        return {
            "limit": self.limit_name,
            "used": str(self.used),
            "max": str(self.limit),
            "left": str(self.left),
            "resets_at": self.resets_at.isoformat().replace("+00:00", "Z"),
        }


def _when(at: datetime, limit: LimitName) -> str:
    text = at.strftime("%H:%M UTC")
    return f"{at.strftime('%Y-%m-%d')} {text}" if limit == "user_usd_per_month" else text


def standings(
    limits: BudgetLimits, global_usd_per_day: Decimal | None, spend: Spend, now: datetime
) -> list[Standing]:
    """Every limit that is set, with what ``spend`` uses of it."""
    pairs: list[tuple[LimitName, Decimal | None, Decimal]] = [
        ("user_usd_per_day", limits.usd_per_day, spend.usd_day),
        ("user_usd_per_month", limits.usd_per_month, spend.usd_month),
        ("user_minutes_per_day", limits.minutes_per_day, spend.minutes_day),
        ("global_usd_per_day", global_usd_per_day, spend.global_usd_day),
    ]
    return [
        Standing(name, used, limit, resets_at(name, now)) for name, limit, used in pairs if limit is not None
    ]


def exhausted(items: list[Standing]) -> Standing | None:
    """The limit that is used up (the one resetting last, if several), or None."""
    used_up = [s for s in items if s.used >= s.limit]
    return max(used_up, key=lambda s: s.resets_at) if used_up else None


def minute_estimate(prices: PriceTable, model: str | None) -> Decimal | None:
    """What a minute of spoken conversation costs on ``model`` (None: its price is unknown)."""
    live = prices.live_prices(model) if model else None
    if live is not None:
        return live.active  # GPT-Live is billed per second of session time, not per token
    tokens = prices.token_prices(model) if model else None
    if tokens is None or tokens.audio_in is None or tokens.audio_out is None:
        return None
    return (tokens.audio_in * _AUDIO_IN_PER_MINUTE + tokens.audio_out * _AUDIO_OUT_PER_MINUTE) / _MILLION


class BudgetExhausted(RateLimited):
    """429 ``budget_exhausted``: a budget cannot cover the call; ``resets_at`` says when it can."""

    default_code = "budget_exhausted"

    def __init__(self, standing: Standing, now: datetime) -> None:
        wait = max(1, int((standing.resets_at - now).total_seconds()))
        super().__init__(standing.message, retry_after=wait)
        self.standing = standing

    def to_dict(self) -> dict[str, Any]:
        """OpenAI's error shape, with which limit and when it resets."""
        return {**super().to_dict(), **{k: v for k, v in self.standing.to_dict().items() if k != "left"}}
