"""Leases: which replica supervises which call, exactly one at a time.

A lease is a name (a call id), a holder (a replica id) and an expiry. The holder renews it on a heartbeat;
when a replica dies, its leases expire and another replica takes them over. Two backends: Redis when
configured (atomic on the server), else the SQL database (:class:`voxgate.adapters.sql.SqlLeases`).
"""

from __future__ import annotations

from typing import Protocol

from redis.asyncio import Redis

from voxgate.adapters.ratelimit import redis_options
from voxgate.adapters.sql.database import Database
from voxgate.adapters.sql.leases import SqlLeases

__all__ = ["LeaseStore", "RedisLeases", "SqlLeases", "open_leases"]


class LeaseStore(Protocol):
    """Named, expiring, exclusive leases."""

    async def acquire(self, name: str, holder: str, ttl_s: float) -> bool:
        """True if ``holder`` now has the lease: it was free or expired (taken), or already its (renewed)."""
        ...

    async def renew(self, name: str, holder: str, ttl_s: float) -> bool:
        """Extend ``holder``'s lease by ``ttl_s`` from now; False if it was lost (expired or taken)."""
        ...

    async def release(self, name: str, holder: str) -> None:
        """Give the lease up if ``holder`` has it; anyone else's release is a no-op."""
        ...

    async def holder(self, name: str) -> str | None:
        """Who holds the lease now, or None when it is free."""
        ...

    async def aclose(self) -> None:
        """Release what this store owns (idempotent)."""
        ...


# Each script reads and writes one key on the server, so no other client can act in between.
_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _ms(ttl_s: float) -> int:
    return max(1, round(ttl_s * 1000))


class RedisLeases:
    """Leases as Redis keys ``{prefix}:lease:{name}`` with a millisecond TTL. Owns its client."""

    def __init__(self, url: str, prefix: str = "voxgate") -> None:
        # Bounded like the limiter's calls: a hung Redis must not stall the supervisor's heartbeats.
        self._redis: Redis = Redis.from_url(url, decode_responses=True, **redis_options())  # type: ignore[arg-type]
        self._prefix = prefix
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._renew = self._redis.register_script(_RENEW)
        self._release = self._redis.register_script(_RELEASE)
        self._closed = False

    def _key(self, name: str) -> str:
        return f"{self._prefix}:lease:{name}"

    async def acquire(self, name: str, holder: str, ttl_s: float) -> bool:
        """True if ``holder`` now has the lease (taken, or renewed if it was already its)."""
        return bool(await self._acquire(keys=[self._key(name)], args=[holder, _ms(ttl_s)]))

    async def renew(self, name: str, holder: str, ttl_s: float) -> bool:
        """Extend ``holder``'s lease; False if it was lost."""
        return bool(await self._renew(keys=[self._key(name)], args=[holder, _ms(ttl_s)]))

    async def release(self, name: str, holder: str) -> None:
        """Give the lease up if ``holder`` has it."""
        await self._release(keys=[self._key(name)], args=[holder])

    async def holder(self, name: str) -> str | None:
        """Who holds the lease now, or None."""
        value = await self._redis.get(self._key(name))
        return None if value is None else str(value)

    async def aclose(self) -> None:
        """Close the client (idempotent)."""
        if not self._closed:
            self._closed = True
            await self._redis.aclose()


def open_leases(redis_url: str | None, db: Database, prefix: str = "voxgate") -> LeaseStore:
    """Redis leases when a Redis URL is configured, else leases in the SQL database ``db``.

    The caller owns the result and closes it with ``aclose()`` (which leaves ``db`` open)."""
    if redis_url:
        return RedisLeases(redis_url, prefix)
    return SqlLeases(db)
