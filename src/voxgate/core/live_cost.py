"""What a GPT-Live session cost, in exact USD, from its cumulative ``session.usage.updated`` usage.

GPT-Live is billed per second of session time, not per token (reference openai-gpt-live.md §8): active
seconds at the model's active price, paused (standby) seconds at its standby price. Creating a WebRTC
session bills :data:`~voxgate.core.prices_table.LIVE_INIT_SECONDS` at once, credited against the
duration once the session runs, so a session costs at least that much and a 90 s one costs 90 s.

The usage is cumulative: each event replaces the previous one, and the last (``session.closed``'s) is
final. Nothing here ever sums usages.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any

from voxgate.core.prices import PER_MINUTE_PLACES, PriceTable
from voxgate.core.prices_table import LIVE_INIT_SECONDS

__all__ = ["LIVE_USAGE_ID", "billed_seconds", "live_cost"]

#: The ledger keeps one usage row per Live call under this id (it can never be an upstream response id).
LIVE_USAGE_ID = "session.usage"

_QUANTUM = Decimal(1).scaleb(-PER_MINUTE_PLACES)


def _whole(value: Any) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError(value)
    seconds = value if isinstance(value, Decimal) else Decimal(str(value))
    if not seconds.is_finite() or seconds < 0:
        raise ValueError(value)
    return seconds


def billed_seconds(usage: Mapping[str, Any]) -> tuple[Decimal, Decimal] | None:
    """(active, paused) seconds to bill for ``usage``, the creation charge included; None if malformed.

    Without a breakdown every second is active. With one, the part not named is the rest of ``seconds``.
    """
    try:
        seconds = _whole(usage.get("seconds")) or Decimal(0)
        active = _whole(usage.get("active_seconds"))
        paused = _whole(usage.get("paused_seconds"))
    except ValueError:
        return None
    if active is None and paused is None:
        active, paused = seconds, Decimal(0)
    elif active is None:
        assert paused is not None
        active = max(Decimal(0), seconds - paused)
    elif paused is None:
        paused = max(Decimal(0), seconds - active)
    # The creation charge is active time, and it is credited, not added: it only tops up a short session.
    shortfall = LIVE_INIT_SECONDS - (active + paused)
    if shortfall > 0:
        active += shortfall
    return active, paused


def live_cost(table: PriceTable, model: str, usage: Mapping[str, Any]) -> Decimal | None:
    """USD of a Live session's cumulative ``usage`` (``{"seconds": 0}`` for one just created), or None.

    None (unknown, never a guess) for a model without Live prices, paused time on a model without a
    standby price, or a malformed usage.
    """
    prices = table.live_prices(model)
    billed = billed_seconds(usage)
    if prices is None or billed is None:
        return None
    active, paused = billed
    if paused > 0 and prices.standby is None:
        return None
    with localcontext() as ctx:
        ctx.prec = 50
        total = active * prices.active + paused * (prices.standby or Decimal(0))
        return (total / 60).quantize(_QUANTUM, rounding=ROUND_HALF_EVEN)
