"""Redis or the database down or hung: a 503 in OpenAI's shape with Retry-After, within a bound, audited.

No request hangs: each is given a generous bound (the configured timeouts, times the calls a request
makes, plus slack) past which the test fails instead of waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import Gateway
from tests.support.server import free_port
from tests.support.tcp_proxy import HungServer, TcpProxy
from voxgate.adapters.ratelimit import REDIS_TIMEOUT_S

# A request makes at most a few limiter calls before the first one fails; a database request first
# pings its pooled connection, then reconnects (3 s connect timeout), and the audit write tries again.
REDIS_BOUND_S = 4 * REDIS_TIMEOUT_S + 5
DATABASE_BOUND_S = 30.0


async def _bounded(request: Any, bound: float) -> httpx.Response:
    async with asyncio.timeout(bound):
        response: httpx.Response = await request
        return response


def _assert_unavailable(response: httpx.Response, code: str) -> None:
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["type"] == "server_error"
    assert set(error) == {"type", "code", "message", "param"}
    assert int(response.headers["Retry-After"]) > 0


def _tasks() -> set[str]:
    return {task.get_coro().__qualname__ for task in asyncio.all_tasks()}  # type: ignore[union-attr]


@pytest.mark.parametrize("redis", ["refused", "hung"])
async def test_redis_down_or_hung_is_a_503_and_audited(
    gateway_factory: Callable[..., Any], redis: str
) -> None:
    with HungServer() as hung:
        port = hung.port if redis == "hung" else free_port()
        before = _tasks()
        async with gateway_factory(redis_url=f"redis://127.0.0.1:{port}/0") as gw:
            gateway: Gateway = gw
            _, key = await gateway.user_with_key()
            response = await _bounded(gateway.mint(key), REDIS_BOUND_S)
            _assert_unavailable(response, "limiter_unavailable")
            # Anonymous and cookie callers hit the limiter too (lockout checks): the same answer.
            anonymous = await _bounded(gateway.mint("vg_" + "x" * 40), REDIS_BOUND_S)
            _assert_unavailable(anonymous, "limiter_unavailable")
            # Audited: the lockout check comes before the key is looked up, so the caller is not known yet
            # (and the anonymous failure after it, same address and outcome, is sampled into that row).
            audit = await gateway.services.accounts.list_mints()
            assert [(r.outcome, r.status) for r in audit] == [("limiter_unavailable", 503)]
            ready = await _bounded(gateway.client.get("/readyz"), REDIS_BOUND_S)
            assert ready.status_code == 503
        # Nothing the requests started outlives the app.
        assert _tasks() <= before | {"test_redis_down_or_hung_is_a_503_and_audited"}


@pytest.mark.postgres
@pytest.mark.parametrize("failure", ["down", "hung"])
async def test_postgres_down_or_hung_is_a_503(
    gateway_factory: Callable[..., Any], postgres_url: str, failure: str
) -> None:
    target = urlsplit(postgres_url)
    with TcpProxy(target.hostname or "127.0.0.1", target.port or 5432) as proxy:
        url = postgres_url.replace(f"{target.hostname}:{target.port}", f"127.0.0.1:{proxy.port}")
        async with gateway_factory(database_url=url) as gw:
            gateway: Gateway = gw
            _, key = await gateway.user_with_key()
            assert (await gateway.mint(key)).status_code == 200
            proxy.set_mode("down" if failure == "down" else "hung")
            response = await _bounded(gateway.mint(key), DATABASE_BOUND_S)
            _assert_unavailable(response, "database_unavailable")
            anonymous = await _bounded(gateway.client.get("/api/me"), DATABASE_BOUND_S)
            assert anonymous.status_code in (401, 503)
            me = await _bounded(
                gateway.client.get("/api/me", headers={"Authorization": f"Bearer {key}"}), DATABASE_BOUND_S
            )
            _assert_unavailable(me, "database_unavailable")


@pytest.mark.postgres
async def test_postgres_comes_back(gateway_factory: Callable[..., Any], postgres_url: str) -> None:
    target = urlsplit(postgres_url)
    with TcpProxy(target.hostname or "127.0.0.1", target.port or 5432) as proxy:
        url = postgres_url.replace(f"{target.hostname}:{target.port}", f"127.0.0.1:{proxy.port}")
        async with gateway_factory(database_url=url) as gw:
            gateway: Gateway = gw
            _, key = await gateway.user_with_key()
            proxy.set_mode("down")
            _assert_unavailable(await _bounded(gateway.mint(key), DATABASE_BOUND_S), "database_unavailable")
            proxy.reopen()
            assert (await _bounded(gateway.mint(key), DATABASE_BOUND_S)).status_code == 200
