"""Rate limiting with the ``limits`` library: moving windows, in memory or shared through Redis.

With Redis, each check is one atomic Lua script on the server, so several replicas sharing a Redis grant
exactly the configured budget however their requests interleave.

A Redis that is down or hung costs a request at most ``timeout`` seconds per call (connect and read
timeouts, no retries): the limiter then raises :class:`LimiterUnavailable`, which the web layer answers
with 503 ``limiter_unavailable`` and ``Retry-After``. It fails closed: no request passes unlimited.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import ClassVar, TypeVar

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from redis.asyncio import ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from voxgate.errors import VoxgateError

__all__ = [
    "REDIS_TIMEOUT_S",
    "Decision",
    "LimiterUnavailable",
    "RateLimiter",
    "parse_limits",
    "redis_options",
]

T = TypeVar("T")

#: Connect and read timeout for every Redis call, in seconds. A local or same-zone Redis answers in
#: well under a millisecond; this only bounds what a dead or hung one costs.
REDIS_TIMEOUT_S = 1.0
#: What a 503 for an unavailable limiter tells clients to wait, in seconds.
RETRY_AFTER_S = 5


class LimiterUnavailable(VoxgateError):
    """The rate limiter's store (Redis) did not answer in time: 503, try again shortly."""

    status_code: ClassVar[int] = 503
    error_type: ClassVar[str] = "server_error"
    default_code: ClassVar[str] = "limiter_unavailable"


def redis_options(timeout: float = REDIS_TIMEOUT_S) -> dict[str, object]:
    """redis-py options bounding each call: connect and read timeouts, and no retries (redis-py retries
    three times with backoff by default, which turned a dead Redis into seconds of waiting)."""
    return {
        "socket_connect_timeout": timeout,
        "socket_timeout": timeout,
        "retry": Retry(NoBackoff(), 0),
        "retry_on_timeout": False,
    }


def parse_limits(spec: str) -> list[RateLimitItem]:
    """``"10/minute;100/hour"`` → limit items, smallest window first."""
    return sorted(parse_many(spec), key=lambda item: item.get_expiry())


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one check, with what the ``RateLimit-*`` headers report."""

    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int
    policy: str

    @property
    def retry_after(self) -> int:
        return max(1, self.reset_seconds)

    def headers(self) -> dict[str, str]:
        """IETF draft ``RateLimit-*`` headers, plus ``Retry-After`` when refused."""
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
            "RateLimit-Policy": self.policy,
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


def _policy(items: Sequence[RateLimitItem]) -> str:
    return ", ".join(f"{item.amount};w={item.get_expiry()}" for item in items)


class RateLimiter:
    """Moving-window limits over one storage, which this object owns and closes."""

    def __init__(
        self, redis_url: str | None = None, *, key_prefix: str = "voxgate", timeout: float = REDIS_TIMEOUT_S
    ) -> None:
        self._pool: ConnectionPool | None = None
        self.storage: Storage
        if redis_url:
            self._pool = ConnectionPool.from_url(redis_url, **redis_options(timeout))
            self.storage = RedisStorage(
                "async+" + redis_url,
                implementation="redispy",
                key_prefix=key_prefix,
                connection_pool=self._pool,  # type: ignore[arg-type]  # passed through to redis-py
            )
        else:
            self.storage = MemoryStorage()
        self._limiter = MovingWindowRateLimiter(self.storage)

    @property
    def backend(self) -> str:
        return "redis" if self._pool is not None else "memory"

    async def _call(self, operation: Callable[[], Awaitable[T]]) -> T:
        try:
            return await operation()
        except (RedisError, StorageError, OSError) as exc:
            raise LimiterUnavailable(
                "The rate limiter is unavailable; try again shortly.", retry_after=RETRY_AFTER_S
            ) from exc

    async def _stats(self, item: RateLimitItem, identifiers: tuple[str, ...]) -> tuple[int, int]:
        stats = await self._call(partial(self._limiter.get_window_stats, item, *identifiers))
        return stats.remaining, max(0, math.ceil(stats.reset_time - time.time()))

    async def hit(self, items: Sequence[RateLimitItem], *identifiers: str) -> Decision:
        """Count one request against each limit in ``items`` (smallest window first) until one is full."""
        tightest: Decision | None = None
        for item in items:
            allowed = await self._call(partial(self._limiter.hit, item, *identifiers))
            remaining, reset = await self._stats(item, identifiers)
            decision = Decision(allowed, item.amount, remaining, reset, _policy(items))
            if not allowed:
                return decision
            if tightest is None or remaining < tightest.remaining:
                tightest = decision
        assert tightest is not None, "at least one limit is required"
        return tightest

    async def check(self, items: Sequence[RateLimitItem], *identifiers: str) -> Decision:
        """Whether one more request would pass, without counting it."""
        for item in items:
            if not await self._call(partial(self._limiter.test, item, *identifiers)):
                remaining, reset = await self._stats(item, identifiers)
                return Decision(False, item.amount, remaining, reset, _policy(items))
        item = items[0]
        remaining, reset = await self._stats(item, identifiers)
        return Decision(True, item.amount, remaining, reset, _policy(items))

    async def ping(self) -> bool:
        """Whether the store answers (False for a dead or hung Redis, within the timeout)."""
        try:
            return bool(await self.storage.check())
        except (RedisError, StorageError, OSError):
            return False

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
            self._pool = None
        elif isinstance(self.storage, MemoryStorage) and self.storage.timer is not None:
            # The memory storage expires keys with a background task of its own.
            self.storage.timer.cancel()
