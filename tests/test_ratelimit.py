"""The rate limiter's contract, run against every storage (memory and Redis)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest

from voxgate.adapters.ratelimit import RateLimiter, parse_limits


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    rl = RateLimiter(url, key_prefix="vgtest-" + secrets.token_hex(4))
    try:
        yield rl
    finally:
        await rl.aclose()


def test_limits_parse_smallest_window_first() -> None:
    items = parse_limits("100/hour;10/minute")
    assert [(i.amount, i.get_expiry()) for i in items] == [(10, 60), (100, 3600)]


async def test_exactly_the_limit_passes_under_concurrency(limiter: RateLimiter) -> None:
    items = parse_limits("10/minute;100/hour")
    decisions = await asyncio.gather(*[limiter.hit(items, "mint", "u1") for _ in range(40)])
    assert sum(d.allowed for d in decisions) == 10
    refused = next(d for d in decisions if not d.allowed)
    headers = refused.headers()
    assert headers["RateLimit-Limit"] == "10"
    assert headers["RateLimit-Remaining"] == "0"
    assert 1 <= int(headers["Retry-After"]) <= 60
    assert headers["RateLimit-Policy"] == "10;w=60, 100;w=3600"
    # Budgets are per identifier.
    assert (await limiter.hit(items, "mint", "u2")).allowed


async def test_check_does_not_count(limiter: RateLimiter) -> None:
    items = parse_limits("2/minute")
    for _ in range(5):
        assert (await limiter.check(items, "auth", "1.2.3.4")).allowed
    await limiter.hit(items, "auth", "1.2.3.4")
    await limiter.hit(items, "auth", "1.2.3.4")
    decision = await limiter.check(items, "auth", "1.2.3.4")
    assert not decision.allowed
    assert decision.retry_after >= 1


async def test_ping(limiter: RateLimiter) -> None:
    assert await limiter.ping()


@pytest.mark.redis
async def test_two_limiters_share_one_redis_budget(redis_url: str) -> None:
    prefix = "vgtest-" + secrets.token_hex(4)
    first, second = RateLimiter(redis_url, key_prefix=prefix), RateLimiter(redis_url, key_prefix=prefix)
    try:
        items = parse_limits("10/minute")
        decisions = await asyncio.gather(*[(first, second)[i % 2].hit(items, "mint", "u") for i in range(50)])
    finally:
        await first.aclose()
        await second.aclose()
    assert sum(d.allowed for d in decisions) == 10


async def test_a_refusal_by_one_window_counts_in_none(limiter: RateLimiter) -> None:
    """Every window is tested before any counts, in memory as in Redis's script."""
    items = parse_limits("5/minute;3/hour")
    decisions = [await limiter.hit(items, "calls", "u") for _ in range(6)]
    assert [d.allowed for d in decisions] == [True, True, True, False, False, False]
    refused = decisions[-1]
    assert (refused.limit, refused.remaining) == (3, 0)
    assert 3590 <= refused.retry_after <= 3600
    assert (await limiter.check(items[:1], "calls", "u")).remaining == 2


async def test_memory_windows_use_no_thread_and_forget_idle_users(monkeypatch: pytest.MonkeyPatch) -> None:
    """The memory windows live on the event loop (limits' own asyncio storage handed each key to a
    thread on nearly every request) and drop a user's lists once they have left their windows."""

    def no_threads(*_: object, **__: object) -> None:
        raise AssertionError("the limiter started a thread")

    monkeypatch.setattr(asyncio, "to_thread", no_threads)
    limiter = RateLimiter(None)
    items = parse_limits("2/second")
    assert (await limiter.hit(items, "mint", "idle")).allowed
    memory = limiter._memory
    assert memory is not None and len(memory._lists) == 1
    await asyncio.sleep(1.1)
    memory._next_sweep = 0.0  # the next check sweeps (once a minute otherwise)
    assert (await limiter.hit(items, "mint", "other")).allowed
    assert len(memory._lists) == 1, "the idle user's list was dropped"
    await limiter.aclose()
