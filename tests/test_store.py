"""The account store's contract, run against every SQL backend (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from voxgate.adapters.sql import AccountStore, Database
from voxgate.adapters.sql.tables import metadata
from voxgate.core.accounts import MintRecord
from voxgate.errors import InvalidRequest, NotFound


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[AccountStore]:
    db = Database(database_url)
    await db.migrate()
    try:
        yield AccountStore(db)
    finally:
        await db.aclose()


async def test_migrations_match_the_table_definitions(database_url: str) -> None:
    db = Database(database_url)
    try:
        await db.migrate()
        await db.migrate()  # idempotent
        async with db.engine.connect() as conn:
            diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), metadata))
    finally:
        await db.aclose()
    assert diff == []


async def test_users(store: AccountStore) -> None:
    assert await store.count_users() == 0
    admin = await store.create_user("ana", "admin")
    bob = await store.create_user("bob")
    assert admin.is_admin and not bob.is_admin
    assert [u.name for u in await store.list_users()] == ["ana", "bob"]
    with pytest.raises(InvalidRequest):
        await store.create_user("bob")
    with pytest.raises(InvalidRequest):
        await store.create_user("  ")
    assert (await store.set_disabled("bob")).disabled
    assert not (await store.set_disabled("bob", False)).disabled
    with pytest.raises(NotFound):
        await store.set_disabled("nobody")
    assert admin.created_at.tzinfo is not None


async def test_api_keys_are_stored_as_hashes_and_revocable(store: AccountStore) -> None:
    await store.create_user("cy")
    info, key = await store.create_api_key("cy", "laptop")
    assert key.startswith("vg_") and len(key) > 40
    assert info.hint == key[:9]
    user = await store.user_for_api_key(key)
    assert user is not None and user.name == "cy"
    (listed,) = await store.list_api_keys("cy")
    assert listed.last_used_at is not None
    assert await store.user_for_api_key(key + "x") is None
    await store.revoke_api_key(info.id)
    assert await store.user_for_api_key(key) is None
    with pytest.raises(NotFound):
        await store.revoke_api_key(info.id)
    async with store._engine.connect() as conn:
        from sqlalchemy import text

        rows = (await conn.execute(text("SELECT * FROM api_keys"))).all()
    assert key not in repr(rows)


async def test_disabled_user_keys_stop_working(store: AccountStore) -> None:
    await store.create_user("dee")
    _, key = await store.create_api_key("dee")
    await store.set_disabled("dee")
    assert await store.user_for_api_key(key) is None


async def test_signin_link_is_single_use_even_under_concurrency(store: AccountStore) -> None:
    await store.create_user("eve")
    token = await store.create_signin_link("eve", timedelta(minutes=5))
    results = await asyncio.gather(*[store.consume_signin_link(token) for _ in range(8)])
    assert sum(r is not None for r in results) == 1
    assert await store.consume_signin_link(token) is None
    expired = await store.create_signin_link("eve", timedelta(seconds=-1))
    assert await store.consume_signin_link(expired) is None


async def test_web_sessions(store: AccountStore) -> None:
    user = await store.create_user("fay")
    token = await store.create_web_session(user.id, timedelta(hours=1))
    assert (await store.user_for_web_session(token)) == user
    await store.end_web_session(token)
    assert await store.user_for_web_session(token) is None
    old = await store.create_web_session(user.id, timedelta(seconds=-1))
    assert await store.user_for_web_session(old) is None
    live = await store.create_web_session(user.id, timedelta(hours=1))
    await store.set_disabled("fay")
    assert await store.user_for_web_session(live) is None


async def test_external_users_are_created_once(store: AccountStore) -> None:
    first = await store.external_user("https://id|42", "gus")
    again = await store.external_user("https://id|42", "renamed")
    assert first.id == again.id
    await store.create_user("hal")
    other = await store.external_user("https://id|43", "hal")  # name taken by a local user
    assert other.name.startswith("hal#") and other.id != first.id


async def test_mint_audit(store: AccountStore) -> None:
    user = await store.create_user("ivy")
    await store.record_mint(MintRecord(user.id, "127.0.0.1", "ok", 200, 300, "gpt-realtime-2.1"))
    await store.record_mint(MintRecord(None, "::1", "invalid_api_key", 401, None, None))
    newest, oldest = await store.list_mints()
    assert (oldest.outcome, oldest.ttl, oldest.user_id) == ("ok", 300, user.id)
    assert (newest.status, newest.client_ip) == (401, "::1")
    assert newest.created_at is not None and newest.created_at.tzinfo is not None
