"""The limiter on the hot path: one Redis round trip per check of every window, exact across replicas."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest

from voxgate.adapters.ratelimit import RateLimiter, parse_limits

pytestmark = pytest.mark.redis


def _count_commands(limiter: RateLimiter) -> list[str]:
    """Every command the limiter sends to Redis from now on, by name."""
    sent: list[str] = []
    redis = limiter._redis
    assert redis is not None
    original = redis.execute_command

    async def counted(*args: Any, **options: Any) -> Any:
        sent.append(str(args[0]))
        return await original(*args, **options)

    redis.execute_command = counted  # type: ignore[method-assign]
    return sent


async def test_two_windows_cost_one_round_trip(redis_url: str) -> None:
    limiter = RateLimiter(redis_url, key_prefix="vgtest-" + secrets.token_hex(4))
    try:
        items = parse_limits("10/minute;100/hour")
        await limiter.hit(items, "mint", "warm")  # loads the script
        sent = _count_commands(limiter)
        decision = await limiter.hit(items, "mint", "u")
        assert sent == ["EVALSHA"]
        assert decision.allowed and decision.remaining == 9 and decision.limit == 10
        assert 59 <= decision.reset_seconds <= 60
        sent.clear()
        assert (await limiter.check(items, "mint", "u")).remaining == 9  # a check counts nothing
        assert sent == ["EVALSHA"]
    finally:
        await limiter.aclose()


async def test_exact_across_two_replicas_under_200_concurrent_requests(redis_url: str) -> None:
    """Two replicas (each its own connection pool), 200 requests at once, both windows: exactly the budget
    of the tighter window passes, then exactly the other's once the first has room (a fresh identifier)."""
    prefix = "vgtest-" + secrets.token_hex(4)
    replicas = [RateLimiter(redis_url, key_prefix=prefix) for _ in range(2)]
    try:
        minute_tight = parse_limits("37/minute;150/hour")
        decisions = await asyncio.gather(
            *[replicas[i % 2].hit(minute_tight, "mint", "u1") for i in range(200)]
        )
        assert sum(d.allowed for d in decisions) == 37
        hour_tight = parse_limits("150/minute;61/hour")
        decisions = await asyncio.gather(*[replicas[i % 2].hit(hour_tight, "mint", "u2") for i in range(200)])
        assert sum(d.allowed for d in decisions) == 61
        assert all(d.remaining == 0 for d in decisions if not d.allowed)
    finally:
        for replica in replicas:
            await replica.aclose()
