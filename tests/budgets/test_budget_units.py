"""The budget arithmetic (windows, what is left, which limit is used up, the words) and the slot stores:
Redis's script and the in-process store follow the same rules, and the script holds under concurrency."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from voxgate.adapters.call_slots import Admit, MemorySlots, RedisSlots, SlotStore
from voxgate.core.budgets import (
    BudgetExhausted,
    BudgetLimits,
    Spend,
    day_start,
    exhausted,
    minute_estimate,
    month_start,
    standings,
)
from voxgate.core.prices import default_prices

NOW = datetime(2026, 12, 31, 23, 59, 30, tzinfo=UTC)


def test_windows_reset_at_midnight_utc_and_on_the_first_of_the_month() -> None:
    assert day_start(NOW) == datetime(2026, 12, 31, tzinfo=UTC)
    assert month_start(NOW) == datetime(2026, 12, 1, tzinfo=UTC)
    limits = BudgetLimits(Decimal("1"), Decimal("10"), Decimal("30"))
    items = standings(
        limits, Decimal("100"), Spend(Decimal("0.9"), Decimal("10"), Decimal("5"), Decimal("1")), NOW
    )
    by_name = {s.limit_name: s for s in items}
    assert by_name["user_usd_per_day"].resets_at == datetime(2027, 1, 1, tzinfo=UTC)
    assert by_name["user_usd_per_month"].resets_at == datetime(2027, 1, 1, tzinfo=UTC)
    assert by_name["user_usd_per_day"].fraction == Decimal("0.9")
    assert by_name["user_usd_per_day"].left == Decimal("0.1")
    assert by_name["user_minutes_per_day"].left == Decimal("25")
    used_up = exhausted(items)
    assert used_up is not None and used_up.limit_name == "user_usd_per_month"
    assert used_up.words == "monthly budget used up, resets at 2027-01-01 00:00 UTC"
    assert used_up.message == "Your monthly budget is used up; it resets at 2027-01-01 00:00 UTC."


def test_no_limit_set_means_nothing_to_check_and_overrides_lift_or_set_limits() -> None:
    assert standings(BudgetLimits(), None, Spend(Decimal("999")), NOW) == []
    defaults = BudgetLimits(usd_per_day=Decimal("1"))
    lifted = defaults.overridden({"usd_per_day": None, "minutes_per_day": Decimal("5")})
    assert lifted == BudgetLimits(None, None, Decimal("5"))


def test_the_refusal_is_openais_shape_with_which_limit_and_when() -> None:
    (item,) = standings(BudgetLimits(Decimal("1")), None, Spend(Decimal("1")), NOW)
    error = BudgetExhausted(item, NOW)
    assert error.status_code == 429 and error.retry_after == 30
    assert error.to_dict() == {
        "type": "rate_limit_error",
        "code": "budget_exhausted",
        "message": "Your daily budget is used up; it resets at 00:00 UTC.",
        "param": None,
        "limit": "user_usd_per_day",
        "used": "1",
        "max": "1",
        "resets_at": "2027-01-01T00:00:00Z",
    }


def test_a_minute_is_priced_from_the_models_audio_rates_and_unknown_is_none() -> None:
    prices = default_prices()
    tokens = prices.token_prices("gpt-realtime-2.1")
    assert tokens is not None and tokens.audio_in is not None and tokens.audio_out is not None
    expected = (tokens.audio_in * 600 + tokens.audio_out * 1200) / 1_000_000
    assert minute_estimate(prices, "gpt-realtime-2.1") == expected
    assert minute_estimate(prices, "no-such-model") is None
    assert minute_estimate(prices, None) is None


def admit(call_id: str, **changes: object) -> Admit:
    values: dict[str, object] = {
        "user_id": 7,
        "call_id": call_id,
        "ttl_s": 30,
        "per_user": 2,
        "total": None,
        "estimate": Decimal("0.1"),
    }
    values.update(changes)
    return Admit(**values)  # type: ignore[arg-type]


@pytest.fixture(params=["memory", "redis"])
async def slots(request: pytest.FixtureRequest) -> SlotStore:
    if request.param == "memory":
        return MemorySlots()
    url = request.getfixturevalue("redis_url")
    return RedisSlots(url, prefix=f"voxgate-test-{secrets.token_hex(4)}")


async def test_caps_and_budgets_with_reservations(slots: SlotStore) -> None:
    try:
        assert await slots.take(admit("a")) is None
        assert await slots.take(admit("b", user_id=8)) is None
        # USD: spent 0.75 + a's reservation 0.1 + 0.1 more > 0.9.
        assert await slots.take(admit("c", user_usd=((Decimal("0.75"), Decimal("0.9")),))) == "user_usd:0"
        await slots.reserve("a", Decimal("0"))  # a's responses have used its reservation up
        assert await slots.reserved(7) == (Decimal("0"), Decimal("0.1"))
        assert await slots.take(admit("c", user_usd=((Decimal("0.75"), Decimal("0.9")),))) is None
        assert await slots.take(admit("d")) == "per_user"
        assert await slots.take(admit("e", user_id=9, total=3)) == "total"
        assert (
            await slots.take(admit("f", user_id=9, global_usd=((Decimal("1"), Decimal("1")),)))
            == "global_usd:0"
        )
        assert (
            await slots.take(admit("g", user_id=9, minutes=(Decimal("29"), Decimal("30"), Decimal("1"))))
            is None
        )
        assert (
            await slots.take(admit("h", user_id=9, minutes=(Decimal("29"), Decimal("30"), Decimal("1"))))
            == "minutes"
        )
        await slots.release(7, "a")
        await slots.release(7, "a")  # idempotent
        assert await slots.take(admit("d")) is None
    finally:
        await slots.aclose()


async def test_slots_expire_unless_renewed(slots: SlotStore) -> None:
    try:
        assert await slots.take(admit("a", ttl_s=0.2, per_user=1)) is None
        await slots.renew(7, "a", 0.6)
        await asyncio.sleep(0.3)
        assert await slots.take(admit("b", per_user=1)) == "per_user"
        await asyncio.sleep(0.4)
        assert await slots.take(admit("b", per_user=1)) is None
    finally:
        await slots.aclose()


async def test_the_redis_script_grants_exactly_the_cap_under_concurrency(redis_url: str) -> None:
    prefix = f"voxgate-test-{secrets.token_hex(4)}"
    replicas = [RedisSlots(redis_url, prefix=prefix) for _ in range(5)]
    try:
        outcomes = await asyncio.gather(
            *(replicas[i % 5].take(admit(f"call-{i}", per_user=2)) for i in range(50))
        )
        assert outcomes.count(None) == 2 and outcomes.count("per_user") == 48
    finally:
        for store in replicas:
            await store.aclose()
