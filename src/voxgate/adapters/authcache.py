"""Credentials answered from memory, with revocation still immediate on every replica.

A credential that proved a user (an API key, a session cookie) is remembered for a minute, under the
*revocation epoch* read before it was looked up. Every revocation (a key revoked, a user disabled, a
session signed out) moves the epoch after its transaction commits, and every request reads the epoch
first: a changed epoch empties the cache, so the request after a revocation goes to the database, on this
replica and every other. Where the epoch lives decides who sees it move:

* **Redis** (when configured): one ``GET`` per request; replicas, workers and the CLI share it.
* **a file beside the SQLite database** (no Redis): one ``stat`` per request (microseconds); the workers
  and the CLI on this machine share it, and nothing else can open that database.
* **PostgreSQL without Redis**: replicas on other machines could not see a file, so nothing is cached
  and every request asks the database (as before).

Only credentials that proved a user are cached: a refused one is looked up each time (and counted by
the lockout), so the reason a once-good credential stopped working is always current.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from voxgate.adapters.ratelimit import redis_options

__all__ = ["CredentialCache", "FileEpoch", "RedisEpoch", "RevocationEpoch", "open_epoch"]

V = TypeVar("V")

#: How long a proven credential is remembered (also the resolution of a key's ``last_used_at``).
CACHE_TTL_S = 60.0
MAX_ENTRIES = 50_000


class RevocationEpoch(Protocol):
    """Where revocations are counted; ``read`` returns None when it cannot tell (nothing is cached)."""

    async def read(self) -> str | None:
        """The current epoch."""
        ...

    async def bump(self) -> None:
        """Mark a revocation (after its transaction committed)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class RedisEpoch:
    """The epoch as a Redis counter shared by every replica."""

    def __init__(self, url: str, prefix: str) -> None:
        self._redis = Redis.from_url(url, **redis_options())  # type: ignore[arg-type]
        self._key = f"{prefix}:auth-epoch"

    async def read(self) -> str | None:
        try:
            value = await self._redis.get(self._key)
        except (RedisError, OSError):
            return None  # the database answers instead
        return value.decode() if isinstance(value, bytes) else str(value or 0)

    async def bump(self) -> None:
        await self._redis.incr(self._key)

    async def aclose(self) -> None:
        await self._redis.aclose()


class FileEpoch:
    """The epoch as a file beside the SQLite database, replaced (new inode, new mtime) on each bump."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def read(self) -> str | None:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return "0"
        except OSError:
            return None
        return f"{stat.st_ino}:{stat.st_mtime_ns}:{stat.st_size}"

    async def bump(self) -> None:
        try:
            count = int(self.path.read_text() or 0) + 1
        except (OSError, ValueError):
            count = 1
        scratch = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        scratch.write_text(f"{count}{' ' * (count % 7)}")  # the size moves too, in case mtime does not
        os.replace(scratch, self.path)

    async def aclose(self) -> None:
        return None


def open_epoch(redis_url: str | None, prefix: str, sqlite_file: Path | None) -> RevocationEpoch | None:
    """Redis's epoch when configured, else the SQLite file's; None (no cache) for PostgreSQL alone."""
    if redis_url:
        return RedisEpoch(redis_url, prefix)
    if sqlite_file is not None:
        return FileEpoch(sqlite_file.with_name(sqlite_file.name + ".auth-epoch"))
    return None


@dataclass(frozen=True, slots=True)
class _Entry(Generic[V]):
    value: V
    until: float  # time.monotonic()


class CredentialCache(Generic[V]):
    """Proven credentials by digest, valid while the epoch they were read under is current."""

    def __init__(self, epoch: RevocationEpoch | None, ttl_s: float = CACHE_TTL_S) -> None:
        self._epoch = epoch
        self._ttl = ttl_s
        self._seen: str | None = None
        self._entries: dict[str, _Entry[V]] = {}

    async def epoch(self) -> str | None:
        """Read the epoch (once per request), forgetting everything if it moved; None: do not cache."""
        if self._epoch is None:
            return None
        current = await self._epoch.read()
        if current != self._seen:
            self._entries.clear()
            self._seen = current
        return current

    def get(self, digest: str, epoch: str | None) -> V | None:
        """The remembered proof for ``digest``, if any under ``epoch``."""
        if epoch is None or epoch != self._seen:
            return None
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if entry.until <= time.monotonic():
            del self._entries[digest]
            return None
        return entry.value

    def put(self, digest: str, value: V, epoch: str | None, *, expires_in_s: float | None = None) -> None:
        """Remember ``value`` if the epoch has not moved since ``epoch`` was read."""
        if epoch is None or epoch != self._seen:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        ttl = self._ttl if expires_in_s is None else min(self._ttl, expires_in_s)
        if ttl > 0:
            self._entries[digest] = _Entry(value, time.monotonic() + ttl)

    async def revoked(self) -> None:
        """A revocation committed: move the epoch for every replica, and forget everything here."""
        self._entries.clear()
        if self._epoch is not None:
            await self._epoch.bump()

    async def aclose(self) -> None:
        if self._epoch is not None:
            await self._epoch.aclose()
