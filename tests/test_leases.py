"""The lease contract, run against every backend: Redis, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from voxgate.adapters.leases import LeaseStore, RedisLeases, open_leases
from voxgate.adapters.sql import Database, SqlLeases

Factory = Callable[[], Awaitable[LeaseStore]]


@pytest.fixture(params=["redis", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Factory]:
    """Makes lease stores sharing one backend, each with its own connections (as replicas have)."""
    redis_url: str | None = None
    if request.param == "redis":
        redis_url = request.getfixturevalue("redis_url")
        db_url = f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}"
    elif request.param == "sqlite":
        db_url = f"sqlite+aiosqlite:///{tmp_path / 'voxgate.db'}"
    else:  # lease names are unique per test: no need to empty the database
        db_url = request.getfixturevalue("postgres_url")
    prefix = "test-" + secrets.token_hex(4)  # other tests may share the Redis server
    async with AsyncExitStack() as stack:

        async def make() -> LeaseStore:
            db = Database(db_url)
            stack.push_async_callback(db.aclose)
            if redis_url is None:
                await db.migrate()
            store = open_leases(redis_url, db, prefix)
            assert isinstance(store, RedisLeases if redis_url else SqlLeases)
            stack.push_async_callback(store.aclose)
            stack.push_async_callback(store.aclose)  # closing twice is harmless
            return store

        yield make


def lease_name() -> str:
    return "call:vgc_" + secrets.token_hex(12)  # as the supervisor names them


async def expire(store: LeaseStore, name: str) -> None:
    """Wait until the lease has lapsed (polling: no guess of how fast this machine is)."""
    for _ in range(3000):
        if await store.holder(name) is None:
            return
        await asyncio.sleep(0.02)
    pytest.fail(f"lease {name} never expired")


async def test_two_holders_contend_and_only_one_wins(new_store: Factory) -> None:
    a: LeaseStore = await new_store()
    b: LeaseStore = await new_store()
    name = lease_name()
    assert await a.holder(name) is None
    assert await a.acquire(name, "replica-a", 30)
    assert not await b.acquire(name, "replica-b", 30)
    assert await b.holder(name) == "replica-a"
    assert await a.acquire(name, "replica-a", 30)  # re-acquiring renews
    assert await a.renew(name, "replica-a", 30)
    assert not await b.renew(name, "replica-b", 30)
    await b.release(name, "replica-b")  # not b's: a no-op
    assert await a.holder(name) == "replica-a"
    await a.release(name, "replica-a")
    assert await b.holder(name) is None
    long_holder = f"{'h' * 64}:4194304:{secrets.token_hex(3)}"  # the longest host name, a pid, a tag
    assert await b.acquire(name, long_holder, 30)
    assert await a.holder(name) == long_holder
    assert await a.holder(lease_name()) is None


async def test_an_expired_lease_passes_to_another_and_the_first_cannot_renew(
    new_store: Factory,
) -> None:
    a: LeaseStore = await new_store()
    b: LeaseStore = await new_store()
    name = lease_name()
    assert await a.acquire(name, "replica-a", 0.2)
    await expire(b, name)
    assert await b.acquire(name, "replica-b", 30)
    assert not await a.renew(name, "replica-a", 30)
    assert not await a.acquire(name, "replica-a", 30)
    await a.release(name, "replica-a")
    assert await a.holder(name) == "replica-b"
    # A lapsed lease nobody took cannot be renewed either: it was lost.
    other = lease_name()
    assert await a.acquire(other, "replica-a", 0.2)
    await expire(a, other)
    assert not await a.renew(other, "replica-a", 30)
    assert await a.acquire(other, "replica-a", 30)


async def test_concurrent_acquires_have_exactly_one_winner(new_store: Factory) -> None:
    stores: list[LeaseStore] = [await new_store() for _ in range(2)]
    for _ in range(3):
        name = lease_name()
        results = await asyncio.gather(*[stores[n % 2].acquire(name, f"replica-{n}", 30) for n in range(8)])
        assert sum(results) == 1
        assert await stores[0].holder(name) == f"replica-{results.index(True)}"
