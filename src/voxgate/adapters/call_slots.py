"""Call slots: the places live calls hold against the per-user and total caps, with each call's budget
reservation, exact across replicas.

A slot is a call id with an expiry (renewed by the supervisor's heartbeat while the call is watched, so a
call nobody watches any more frees its place) and a reserved amount of USD (an estimate at admission,
lowered as the call's responses are recorded). With Redis, taking a slot is one Lua script: count the
user's live slots and everyone's, check every budget with what the other live calls reserve, and take the
place, with no other client acting in between. Without Redis the slots live in this process (one replica).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from redis.asyncio import Redis

from voxgate.adapters.ratelimit import redis_options

__all__ = ["Admit", "MemorySlots", "RedisSlots", "SlotStore", "open_slots"]


@dataclass(frozen=True, slots=True)
class Admit:
    """One request for a slot: the caps, and each budget as (recorded spend, limit) pairs."""

    user_id: int
    call_id: str
    ttl_s: float
    per_user: int
    total: int | None
    estimate: Decimal  # USD reserved for the call (0 when the model's price is unknown)
    user_usd: tuple[tuple[Decimal, Decimal], ...] = ()  # per-user USD budgets (day, month)
    global_usd: tuple[tuple[Decimal, Decimal], ...] = ()
    minutes: tuple[Decimal, Decimal, Decimal] | None = None  # (used, limit, reserved per live call)


#: What a refusal says: "per_user", "total", "user_usd:<i>", "global_usd:<i>", "minutes".
Outcome = str | None


class SlotStore(Protocol):
    """Where live calls hold their places and reservations."""

    async def take(self, admit: Admit) -> Outcome:
        """Take a place for ``admit.call_id`` (a call that holds one keeps it); None if taken, else
        what refused it."""
        ...

    async def renew(self, user_id: int, call_id: str, ttl_s: float) -> None:
        """Keep a live call's place for ``ttl_s`` more."""
        ...

    async def reserve(self, call_id: str, usd: Decimal) -> None:
        """Set what the call still holds in reserve."""
        ...

    async def reserved(self, user_id: int, exclude: str | None = None) -> tuple[Decimal, Decimal]:
        """(the user's live calls' reservations, everyone's), leaving out ``exclude``."""
        ...

    async def release(self, user_id: int, call_id: str) -> None:
        """Free a call's place (idempotent)."""
        ...

    async def aclose(self) -> None:
        """Close what the store owns."""
        ...


_TAKE = """
local now = tonumber(ARGV[1])
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
for _, id in ipairs(expired) do redis.call('HDEL', KEYS[3], id) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[2], ARGV[3]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[3])
  return false
end
local mine = redis.call('ZRANGE', KEYS[1], 0, -1)
if #mine >= tonumber(ARGV[4]) then return 'per_user' end
local all = redis.call('ZRANGE', KEYS[2], 0, -1)
if tonumber(ARGV[5]) >= 0 and #all >= tonumber(ARGV[5]) then return 'total' end
local function held(ids)
  local sum = 0
  for _, id in ipairs(ids) do sum = sum + tonumber(redis.call('HGET', KEYS[3], id) or '0') end
  return sum
end
local estimate = tonumber(ARGV[6])
local mine_held, all_held = held(mine), held(all)
local i = 7
local n = tonumber(ARGV[i]); i = i + 1
for k = 1, n do
  local spent, limit = tonumber(ARGV[i]), tonumber(ARGV[i + 1]); i = i + 2
  if spent + mine_held + estimate > limit or spent + mine_held >= limit then return 'user_usd:' .. (k - 1) end
end
n = tonumber(ARGV[i]); i = i + 1
for k = 1, n do
  local spent, limit = tonumber(ARGV[i]), tonumber(ARGV[i + 1]); i = i + 2
  if spent + all_held + estimate > limit or spent + all_held >= limit then return 'global_usd:' .. (k - 1) end
end
if ARGV[i] ~= '' then
  local used, limit, each = tonumber(ARGV[i]), tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  if used + each * (#mine + 1) > limit then return 'minutes' end
end
local expiry = now + tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], expiry, ARGV[3])
redis.call('ZADD', KEYS[2], expiry, ARGV[3])
redis.call('HSET', KEYS[3], ARGV[3], ARGV[6])
return false
"""
_RENEW = """
local expiry = tonumber(ARGV[1])
redis.call('ZADD', KEYS[1], 'XX', expiry, ARGV[2])
redis.call('ZADD', KEYS[2], 'XX', expiry, ARGV[2])
"""
_RESERVED = """
local now = tonumber(ARGV[1])
local function held(key)
  local sum = 0
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', key, now, '+inf')) do
    if id ~= ARGV[2] then sum = sum + tonumber(redis.call('HGET', KEYS[3], id) or '0') end
  end
  return tostring(sum)
end
return {held(KEYS[1]), held(KEYS[2])}
"""


def _ms() -> int:
    return int(time.time() * 1000)


def _args(admit: Admit) -> list[str | int]:
    args: list[str | int] = [_ms(), int(admit.ttl_s * 1000), admit.call_id, admit.per_user]
    args += [-1 if admit.total is None else admit.total, str(admit.estimate)]
    for pairs in (admit.user_usd, admit.global_usd):
        args.append(len(pairs))
        for spent, limit in pairs:
            args += [str(spent), str(limit)]
    args += [str(v) for v in admit.minutes] if admit.minutes else ["", "", ""]
    return args


class RedisSlots:
    """Slots in Redis: a sorted set per user and one for everyone (scores: expiry in ms), and a hash of
    reservations. Owns its client."""

    def __init__(self, url: str, prefix: str = "voxgate") -> None:
        self._redis: Redis = Redis.from_url(url, decode_responses=True, **redis_options())  # type: ignore[arg-type]
        self._prefix = prefix
        self._take = self._redis.register_script(_TAKE)
        self._renew = self._redis.register_script(_RENEW)
        self._reserved = self._redis.register_script(_RESERVED)

    def _keys(self, user_id: int) -> list[str]:
        p = self._prefix
        return [f"{p}:slots:user:{user_id}", f"{p}:slots:all", f"{p}:slots:reserved"]

    async def take(self, admit: Admit) -> Outcome:
        """One atomic script: caps, budgets with the live calls' reservations, then the place."""
        result = await self._take(keys=self._keys(admit.user_id), args=_args(admit))
        return None if result is None else str(result)

    async def renew(self, user_id: int, call_id: str, ttl_s: float) -> None:
        """Extend the place (a place already freed stays free)."""
        await self._renew(keys=self._keys(user_id), args=[_ms() + int(ttl_s * 1000), call_id])

    async def reserve(self, call_id: str, usd: Decimal) -> None:
        """Set the call's reservation (only while it holds a place)."""
        if await self._redis.zscore(self._keys(0)[1], call_id) is not None:
            await self._redis.hset(self._keys(0)[2], call_id, str(usd))

    async def reserved(self, user_id: int, exclude: str | None = None) -> tuple[Decimal, Decimal]:
        """Reservations of the user's live calls and of everyone's, without ``exclude``."""
        mine, every = await self._reserved(keys=self._keys(user_id), args=[_ms(), exclude or ""])
        return Decimal(mine), Decimal(every)

    async def release(self, user_id: int, call_id: str) -> None:
        """Free the place and its reservation."""
        user, every, reserved = self._keys(user_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zrem(user, call_id)
            pipe.zrem(every, call_id)
            pipe.hdel(reserved, call_id)
            await pipe.execute()

    async def aclose(self) -> None:
        """Close the client."""
        await self._redis.aclose()


@dataclass
class _Slot:
    user_id: int
    expiry: float
    reserved: Decimal


@dataclass
class MemorySlots:
    """Slots in this process (a single replica without Redis); the same rules as the script.

    Indexed by user, so that admitting a call looks at that user's calls only: scanning every live call
    on each admission cost ~5 % of a relay's CPU with a few thousand calls live. Places past their expiry
    are swept once a second, and never counted once expired.
    """

    slots: dict[str, _Slot] = field(default_factory=dict)
    _by_user: dict[int, set[str]] = field(default_factory=dict)
    _next_sweep: float = 0.0

    def _live(self) -> dict[str, _Slot]:
        now = time.time()
        if now >= self._next_sweep:
            self._next_sweep = now + 1.0
            for call_id in [k for k, v in self.slots.items() if v.expiry <= now]:
                self._drop(call_id)
        return self.slots

    def _drop(self, call_id: str) -> None:
        slot = self.slots.pop(call_id, None)
        if slot is not None and (mine := self._by_user.get(slot.user_id)) is not None:
            mine.discard(call_id)
            if not mine:
                del self._by_user[slot.user_id]

    def _mine(self, user_id: int, now: float) -> list[_Slot]:
        slots = (self.slots[k] for k in self._by_user.get(user_id, ()))
        return [slot for slot in slots if slot.expiry > now]

    def _held(self, now: float) -> Decimal:
        return sum((s.reserved for s in self.slots.values() if s.expiry > now), Decimal(0))

    async def take(self, admit: Admit) -> Outcome:
        """Caps, budgets with the live calls' reservations, then the place."""
        live = self._live()
        now = time.time()
        if (held := live.get(admit.call_id)) is not None and held.expiry > now:
            held.expiry = now + admit.ttl_s  # already holds its place (a re-attach): keep it
            return None
        mine = self._mine(admit.user_id, now)
        if len(mine) >= admit.per_user:
            return "per_user"
        if admit.total is not None and sum(1 for s in live.values() if s.expiry > now) >= admit.total:
            return "total"
        held_mine = sum((s.reserved for s in mine), Decimal(0))
        # Everyone's reservations are summed only when a global budget needs them.
        held_all = self._held(now) if admit.global_usd else Decimal(0)
        for name, pairs, held_now in (
            ("user_usd", admit.user_usd, held_mine),
            ("global_usd", admit.global_usd, held_all),
        ):
            for index, (spent, limit) in enumerate(pairs):
                if spent + held_now + admit.estimate > limit or spent + held_now >= limit:
                    return f"{name}:{index}"
        if admit.minutes is not None:
            used, limit, each = admit.minutes
            if used + each * (len(mine) + 1) > limit:
                return "minutes"
        self._drop(admit.call_id)
        live[admit.call_id] = _Slot(admit.user_id, now + admit.ttl_s, admit.estimate)
        self._by_user.setdefault(admit.user_id, set()).add(admit.call_id)
        return None

    async def renew(self, user_id: int, call_id: str, ttl_s: float) -> None:
        """Extend the place."""
        now = time.time()
        if (slot := self._live().get(call_id)) is not None and slot.expiry > now:
            slot.expiry = now + ttl_s

    async def reserve(self, call_id: str, usd: Decimal) -> None:
        """Set the call's reservation."""
        if (slot := self._live().get(call_id)) is not None and slot.expiry > time.time():
            slot.reserved = usd

    async def reserved(self, user_id: int, exclude: str | None = None) -> tuple[Decimal, Decimal]:
        """Reservations of the user's live calls and of everyone's."""
        now = time.time()
        others = [(k, s) for k, s in self._live().items() if k != exclude and s.expiry > now]
        mine = sum((s.reserved for _, s in others if s.user_id == user_id), Decimal(0))
        return mine, sum((s.reserved for _, s in others), Decimal(0))

    async def release(self, user_id: int, call_id: str) -> None:
        """Free the place."""
        self._drop(call_id)

    async def aclose(self) -> None:
        """Nothing to close."""


def open_slots(redis_url: str | None, prefix: str = "voxgate") -> SlotStore:
    """Redis slots when a Redis URL is configured, else slots in this process."""
    return RedisSlots(redis_url, prefix) if redis_url else MemorySlots()
