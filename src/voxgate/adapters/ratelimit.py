"""Rate limiting with the ``limits`` library: moving windows, in memory or shared through Redis.

With Redis, a check of every window of a limit (say 10/minute and 100/hour) is one round trip: one
atomic Lua script, ``limits``' own moving-window script extended to several windows (:data:`_WINDOWS_LUA`),
over ``limits``' key layout and list format. The script tests every window before it counts in any, so a
request refused by the hourly window does not use up the minute's budget, and several replicas sharing a
Redis grant exactly the configured budget however their requests interleave. (``limits`` checks one
window per call, and its window statistics take another: four round trips for two windows.)

Without Redis the same windows live in this process's memory (:class:`_MemoryWindows`, the script's
rules in Python). ``limits``' own asyncio memory storage expired its entries by handing every key to a
thread (``asyncio.to_thread``) on a sweep started by nearly every request: 8-14 % of a mint's CPU at one
connection, growing with the number of users.

A Redis that is down or hung costs a request at most ``timeout`` seconds per call (connect and read
timeouts, no retries): the limiter then raises :class:`LimiterUnavailable`, which the web layer answers
with 503 ``limiter_unavailable`` and ``Retry-After``. It fails closed: no request passes unlimited.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import ClassVar, TypeVar

from limits import RateLimitItem, parse_many
from redis.asyncio import ConnectionPool, Redis
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


# KEYS: one list per window (newest timestamp first, at most `limit` long, as limits keeps it).
# ARGV: now, consume (1 or 0), then limit and expiry per window. Returns the first full window's number
# (0: none) and, per window, the entries inside it and the oldest of them.
_WINDOWS_LUA = """
local now = tonumber(ARGV[1])
local refused = 0
for i = 1, #KEYS do
    local limit, expiry = tonumber(ARGV[2 * i + 1]), tonumber(ARGV[2 * i + 2])
    local entry = redis.call('lindex', KEYS[i], limit - 1)
    if entry and tonumber(entry) >= now - expiry then
        refused = i
        break
    end
end
if refused == 0 and ARGV[2] == '1' then
    for i = 1, #KEYS do
        local limit, expiry = tonumber(ARGV[2 * i + 1]), tonumber(ARGV[2 * i + 2])
        redis.call('lpush', KEYS[i], ARGV[1])
        redis.call('ltrim', KEYS[i], 0, limit - 1)
        redis.call('expire', KEYS[i], expiry)
    end
end
local result = {refused}
for i = 1, #KEYS do
    local limit, expiry = tonumber(ARGV[2 * i + 1]), tonumber(ARGV[2 * i + 2])
    local low, high, found = 0, math.min(limit, redis.call('llen', KEYS[i])) - 1, -1
    while low <= high do  -- the oldest entry still inside the window (the list is newest first)
        local mid = math.floor((low + high) / 2)
        if tonumber(redis.call('lindex', KEYS[i], mid)) >= now - expiry then
            found = mid
            low = mid + 1
        else
            high = mid - 1
        end
    end
    local oldest = found >= 0 and redis.call('lindex', KEYS[i], found) or ARGV[1]
    result[#result + 1] = found + 1
    result[#result + 1] = oldest
end
return result
"""


class _MemoryWindows:
    """:data:`_WINDOWS_LUA` over lists in this process's memory: the same answers, the same rules."""

    #: How often lists whose newest entry has left its window are dropped, in seconds.
    SWEEP_S = 60.0

    def __init__(self) -> None:
        self._lists: dict[str, tuple[deque[float], float]] = {}  # key: (entries oldest first, expiry)
        self._next_sweep = 0.0

    def run(self, keys: list[str], args: list[float | int]) -> list[float | int]:
        """What the script returns for ``keys`` and ``args`` (its ``ARGV``)."""
        now, consume = float(args[0]), args[1] == 1
        windows = [(int(args[2 + 2 * i]), float(args[3 + 2 * i])) for i in range(len(keys))]
        self._sweep(now)
        refused = 0
        for i, (key, (limit, expiry)) in enumerate(zip(keys, windows, strict=True), start=1):
            entries = self._lists.get(key)
            if entries and len(entries[0]) >= limit and entries[0][-limit] >= now - expiry:
                refused = i
                break
        if refused == 0 and consume:
            for key, (limit, expiry) in zip(keys, windows, strict=True):
                entries = self._lists.get(key)
                if entries is None or entries[0].maxlen != limit:
                    entries = self._lists[key] = (deque(entries[0] if entries else (), maxlen=limit), expiry)
                entries[0].append(now)
        result: list[float | int] = [refused]
        for key, (_, expiry) in zip(keys, windows, strict=True):
            entries = self._lists.get(key)
            inside: deque[float] = entries[0] if entries else deque()
            while inside and inside[0] < now - expiry:  # oldest first: what left the window goes
                inside.popleft()
            result += [len(inside), inside[0] if inside else now]
        return result

    def _sweep(self, now: float) -> None:
        if now < self._next_sweep:
            return
        self._next_sweep = now + self.SWEEP_S
        for key in [
            k for k, (entries, expiry) in self._lists.items() if not entries or entries[-1] < now - expiry
        ]:
            del self._lists[key]


class RateLimiter:
    """Moving-window limits over one storage (Redis or this process's memory), which this object owns and
    closes."""

    def __init__(
        self, redis_url: str | None = None, *, key_prefix: str = "voxgate", timeout: float = REDIS_TIMEOUT_S
    ) -> None:
        self._pool: ConnectionPool | None = None
        self._redis: Redis | None = None
        self._prefix = key_prefix
        self._memory: _MemoryWindows | None = None
        if redis_url:
            self._pool = ConnectionPool.from_url(redis_url, **redis_options(timeout))
            self._redis = Redis(connection_pool=self._pool)
            # EVALSHA, falling back to EVAL once per connection pool if Redis lost the script.
            self._windows = self._redis.register_script(_WINDOWS_LUA)
        else:
            self._memory = _MemoryWindows()

    @property
    def backend(self) -> str:
        return "redis" if self._pool is not None else "memory"

    async def _call(self, operation: Callable[[], Awaitable[T]]) -> T:
        try:
            return await operation()
        except (RedisError, OSError) as exc:
            raise LimiterUnavailable(
                "The rate limiter is unavailable; try again shortly.", retry_after=RETRY_AFTER_S
            ) from exc

    async def _run_windows(
        self, items: Sequence[RateLimitItem], identifiers: tuple[str, ...], *, consume: bool
    ) -> Decision:
        """Every window in one script run (Redis, or memory): the refusing window's figures, or the
        tightest window's."""
        now = time.time()
        args: list[float | int] = [now, 1 if consume else 0]
        for item in items:
            args += [item.amount, item.get_expiry()]
        keys = [f"{self._prefix}:{item.key_for(*identifiers)}" for item in items]
        if self._memory is not None:
            reply = self._memory.run(keys, args)
        else:
            reply = await self._call(partial(self._windows, keys=keys, args=args))
        refused = int(reply[0])
        decisions = [
            Decision(
                refused == 0,
                item.amount,
                max(0, item.amount - int(reply[1 + 2 * i])),
                max(0, math.ceil(float(reply[2 + 2 * i]) + item.get_expiry() - now)),
                _policy(items),
            )
            for i, item in enumerate(items)
        ]
        if refused:
            return decisions[refused - 1]
        return min(decisions, key=lambda decision: decision.remaining)

    async def hit(self, items: Sequence[RateLimitItem], *identifiers: str) -> Decision:
        """Count one request against each limit in ``items`` (smallest window first), unless one is full
        (then none is counted)."""
        assert items, "at least one limit is required"
        return await self._run_windows(items, identifiers, consume=True)

    async def check(self, items: Sequence[RateLimitItem], *identifiers: str) -> Decision:
        """Whether one more request would pass, without counting it."""
        assert items, "at least one limit is required"
        return await self._run_windows(items, identifiers, consume=False)

    async def ping(self) -> bool:
        """Whether the store answers (False for a dead or hung Redis, within the timeout)."""
        if self._redis is None:
            return True
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.aclose(close_connection_pool=True)
            self._redis = None
            self._pool = None
