"""Credentials answered from memory, and revocation still immediate on every replica.

Two gateways (two replicas) share one database, and Redis when configured. A key or session proven once is
answered from memory (no SQL for it on the next request); a revocation made through either replica, or by
the CLI in a process of its own, refuses the very next request on both.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from tests.conftest import Gateway, _reset_schema
from voxgate.adapters.authcache import open_epoch
from voxgate.adapters.sql import AccountStore, Database
from voxgate.adapters.sql.database import sqlite_path
from voxgate.web.auth import COOKIE_NAME

ORIGIN = {"Origin": "http://testserver"}


@asynccontextmanager
async def two_replicas(gateway_factory: Callable[..., Any], **settings: Any) -> AsyncIterator[list[Gateway]]:
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(gateway_factory(**settings)) for _ in range(2)]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def key_queries(gateway: Gateway) -> list[str]:
    """The SQL statements that read API keys or sessions in this replica, from now on."""
    seen: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "api_keys" in statement or "web_sessions" in statement:
            seen.append(statement)

    event.listen(gateway.services.db.engine.sync_engine, "before_cursor_execute", before)
    return seen


async def cli_revoke(database_url: str, redis_url: str | None, prefix: str, key_id: int) -> None:
    """What ``voxgate keys revoke`` does, from a store of its own (as from another process)."""
    db = Database(database_url)
    epoch = open_epoch(redis_url, prefix, sqlite_path(database_url))
    try:
        await AccountStore(db, on_revocation=epoch.bump if epoch else None).revoke_api_key(key_id)
    finally:
        if epoch is not None:
            await epoch.aclose()
        await db.aclose()


async def run_cli(shared: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    """``voxgate ARGS`` in a process of its own, on the replicas' database (and Redis)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOXGATE_")}
    env["VOXGATE_DATABASE_URL"] = shared["database_url"]
    if "redis_url" in shared:
        env.update(VOXGATE_REDIS_URL=shared["redis_url"], VOXGATE_REDIS_PREFIX=shared["redis_prefix"])
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "voxgate", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(
    params=["sqlite", pytest.param("postgres+redis", marks=[pytest.mark.postgres, pytest.mark.redis])]
)
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """What the two replicas share: one SQLite file (no Redis), or PostgreSQL and Redis."""
    if request.param == "sqlite":
        return {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"}
    url: str = request.getfixturevalue("postgres_url")
    _reset_schema(url)
    return {
        "database_url": url,
        "redis_url": request.getfixturevalue("redis_url"),
        "redis_prefix": "vgtest-" + secrets.token_hex(4),
    }


async def test_a_proven_key_is_answered_from_memory(gateway_factory: Any, shared: dict[str, Any]) -> None:
    async with two_replicas(gateway_factory, **shared) as (one, _):
        _, key = await one.user_with_key("mem")
        assert (await one.client.get("/api/me", headers=bearer(key))).status_code == 200
        queries = key_queries(one)
        for _ in range(3):
            assert (await one.client.get("/api/me", headers=bearer(key))).status_code == 200
        assert queries == []


async def test_a_revoked_key_is_refused_on_the_next_request_on_every_replica(
    gateway_factory: Any, shared: dict[str, Any]
) -> None:
    async with two_replicas(gateway_factory, **shared) as replicas:
        one, two = replicas
        _, key = await one.user_with_key("rev")
        _, other = await one.services.accounts.create_api_key("rev", "other")
        for replica in replicas:  # both remember the key
            for credential in (key, other):
                assert (await replica.mint(credential)).status_code == 200
        info = next(k for k in await one.services.accounts.list_api_keys("rev") if k.name == "default")
        await one.services.accounts.revoke_api_key(info.id)
        for replica in (two, one):
            refused = await replica.mint(key)
            assert refused.status_code == 401
            assert refused.json()["error"]["code"] == "key_revoked"
            # The other key of the same user still works (and is looked up again once).
            assert (await replica.mint(other)).status_code == 200

        # The CLI, a process of its own, revokes the other key: both replicas refuse it next.
        other_info = next(k for k in await one.services.accounts.list_api_keys("rev") if k.name == "other")
        await cli_revoke(
            shared["database_url"], shared.get("redis_url"), shared.get("redis_prefix", ""), other_info.id
        )
        for replica in replicas:
            assert (await replica.mint(other)).json()["error"]["code"] == "key_revoked"


async def test_disabling_a_user_and_signing_out_reach_every_replica(
    gateway_factory: Any, shared: dict[str, Any]
) -> None:
    async with two_replicas(gateway_factory, **shared) as replicas:
        one, two = replicas
        _, key = await one.user_with_key("dis")
        signin = await one.client.post("/api/auth/signin", json={"key": key}, headers=ORIGIN)
        assert signin.status_code in (200, 204), signin.text
        cookie = {"Cookie": f"{COOKIE_NAME}={signin.cookies[COOKIE_NAME]}"}
        for replica in replicas:
            assert (await replica.client.get("/api/me", headers=cookie)).status_code == 200
        # Signed out through replica two: replica one's memory of the session is gone.
        assert (await two.client.post("/api/auth/signout", headers={**cookie, **ORIGIN})).status_code == 204
        ended = await one.client.get("/api/me", headers=cookie)
        assert (ended.status_code, ended.json()["error"]["code"]) == (401, "session_revoked")
        assert (await one.client.get("/api/me", headers=bearer(key))).status_code == 200
        await two.services.accounts.set_disabled("dis")
        disabled = await one.client.get("/api/me", headers=bearer(key))
        assert (disabled.status_code, disabled.json()["error"]["code"]) == (401, "user_disabled")


async def test_a_cached_session_still_expires_on_time(gateway_factory: Any, tmp_path: Path) -> None:
    async with gateway_factory(database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}") as gw:
        user = await gw.services.accounts.create_user("exp")
        token = await gw.services.accounts.create_web_session(user.id, timedelta(seconds=1))
        cookie = {"Cookie": f"{COOKIE_NAME}={token}"}
        assert (await gw.client.get("/api/me", headers=cookie)).status_code == 200
        await asyncio.sleep(1.2)
        expired = await gw.client.get("/api/me", headers=cookie)
        assert (expired.status_code, expired.json()["error"]["code"]) == (401, "session_expired")


async def test_unknown_keys_are_still_counted_and_locked_out(gateway_factory: Any) -> None:
    """The cache holds only proven credentials: a bad key is looked up, counted, and locked out as before."""
    async with gateway_factory() as gw:
        bad = "vg_" + secrets.token_urlsafe(32)
        codes = [(await gw.mint(bad)).status_code for _ in range(12)]
        assert codes[0] == 401 and codes[-1] == 429


async def test_a_role_changed_by_the_cli_applies_on_the_next_request(
    gateway_factory: Any, shared: dict[str, Any]
) -> None:
    async with two_replicas(gateway_factory, **shared) as replicas:
        _, key = await replicas[0].user_with_key("boss", role="admin")
        for replica in replicas:
            me = await replica.client.get("/api/me", headers=bearer(key))
            assert me.json()["user"]["role"] == "admin"
        demoted = await run_cli(shared, "users", "role", "boss", "user")
        assert demoted.returncode == 0, demoted.stderr
        for replica in replicas:
            me = await replica.client.get("/api/me", headers=bearer(key))
            assert me.json()["user"]["role"] == "user"


def budget_queries(gateway: Gateway) -> list[str]:
    """The SQL statements that read budget overrides in this replica, from now on."""
    seen: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "user_budgets" in statement:
            seen.append(statement)

    event.listen(gateway.services.db.engine.sync_engine, "before_cursor_execute", before)
    return seen


async def test_budget_overrides_come_from_memory_and_a_change_applies_on_the_next_mint_everywhere(
    gateway_factory: Any, shared: dict[str, Any]
) -> None:
    """Admission reads a user's overrides on every mint: from memory, forgotten on every replica when
    the CLI (a process of its own) or another replica changes them."""
    async with two_replicas(gateway_factory, **shared) as replicas:
        one, two = replicas
        await one.user_with_key("spender")
        _, key = await one.services.accounts.create_api_key("spender", "second")
        for replica in replicas:
            assert (await replica.mint(key)).status_code == 200
        queries = budget_queries(one)
        for _ in range(3):
            assert (await one.mint(key)).status_code == 200
        assert queries == []

        capped = await run_cli(shared, "budgets", "set", "spender", "--usd-per-day", "0")
        assert capped.returncode == 0, capped.stderr
        for replica in replicas:
            refused = await replica.mint(key)
            assert (refused.status_code, refused.json()["error"]["code"]) == (429, "budget_exhausted")

        user = await two.services.accounts.get_user("spender")
        assert two.services.budget is not None
        await two.services.budget.budgets.clear_overrides(user.id)
        for replica in replicas:
            assert (await replica.mint(key)).status_code == 200
