"""Replicas: two voxgate processes on PostgreSQL + Redis share the calls; one killed with SIGKILL mid-call
has its calls taken over by the other, and the ledger holds every item exactly once.

Also a single replica restarting: it detaches on shutdown without ending calls, and re-attaches at start.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.engine.conftest import API_KEY, EngineServer
from tests.engine.gateway.test_relay import eventually, relay, text_turn
from tests.engine.realtime_kit import RtcClient
from tests.support.server import free_port
from voxgate.adapters.leases import RedisLeases
from voxgate.adapters.sql import AccountStore, Database, LedgerStore
from voxgate.core.ledger import CallDetail

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


class Replica:
    """``voxgate`` served by uvicorn in a process of its own (so that it can be killed with SIGKILL)."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = cwd / f"replica-{self.port}.log"
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "voxgate.web.app:create_app_from_env",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
        ]
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)

    async def ready(self, within: float = 60.0) -> None:
        async with httpx.AsyncClient(timeout=2) as http:
            for _ in range(int(within / 0.2)):
                if self.process.poll() is not None:
                    break
                try:
                    if (await http.get(f"{self.url}/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
        raise AssertionError(f"replica did not start:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
async def replicas(tmp_path: Path) -> AsyncIterator[Callable[[dict[str, str]], Replica]]:
    """Start replicas; all are stopped after the test. Stopped from threads, with the test's event loop
    running: a replica detaching its sidebands on shutdown closes them with the engine that runs in that
    loop, and with the loop blocked each close waited out its 10 s timeout."""
    started: list[Replica] = []

    def start(env: dict[str, str]) -> Replica:
        replica = Replica(env, tmp_path)
        started.append(replica)
        return replica

    yield start
    await asyncio.gather(*(asyncio.to_thread(replica.stop) for replica in started))


@asynccontextmanager
async def ledger_on(url: str) -> AsyncIterator[tuple[AccountStore, LedgerStore]]:
    db = Database(url)
    await db.migrate()
    try:
        yield AccountStore(db), LedgerStore(db)
    finally:
        await db.aclose()


async def test_a_replica_killed_mid_call_is_replaced_and_nothing_is_lost_or_doubled(
    postgres_url: str,
    redis_url: str,
    make_server: Callable[..., Awaitable[EngineServer]],
    replicas: Callable[[dict[str, str]], Replica],
) -> None:
    from tests.conftest import _reset_schema

    _reset_schema(postgres_url)
    engine = await make_server()
    prefix = f"voxgate-test-{os.getpid()}-{free_port()}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("VOXGATE_", "OPENAI_"))},
        "OPENAI_API_KEY": API_KEY,
        "VOXGATE_UPSTREAM_URL": engine.base_url,
        "VOXGATE_DATABASE_URL": postgres_url,
        "VOXGATE_REDIS_URL": redis_url,
        "VOXGATE_REDIS_PREFIX": prefix,
        "VOXGATE_SUPERVISOR__LEASE_TTL_S": "3",
        "VOXGATE_SUPERVISOR__HEARTBEAT_S": "1",
        "VOXGATE_SUPERVISOR__SCAN_INTERVAL_S": "1",
    }
    async with ledger_on(postgres_url) as (accounts, ledger):
        await accounts.create_user("kim")
        _, key = await accounts.create_api_key("kim")
        first, second = replicas(env), replicas(env)
        await asyncio.gather(first.ready(), second.ready())
        leases = RedisLeases(redis_url, prefix)
        rtc = RtcClient()
        try:
            async with httpx.AsyncClient(base_url=first.url, timeout=10) as http:
                answered = await relay(_Via(http), key, rtc)
            assert answered.status_code == 201, answered.text
            call_id = answered.headers["location"].rsplit("/", 1)[-1]
            await rtc.connect(answered.text)
            await text_turn(rtc)

            async def recorded(items: int) -> CallDetail | None:
                detail = await ledger.call_detail(call_id)
                return (
                    detail
                    if detail and len(detail.items) >= items and len(detail.responses) >= items // 2
                    else None
                )

            assert await eventually(lambda: recorded(2))
            holder = await leases.holder(f"call:{call_id}")
            assert holder is not None and f":{first.process.pid}:" in holder, holder

            first.kill()
            loop = asyncio.get_running_loop()
            killed_at = loop.time()

            async def taken_over() -> bool:
                now = await leases.holder(f"call:{call_id}")
                return now is not None and f":{second.process.pid}:" in now

            assert await eventually(taken_over, 10.0), "the other replica took the call over"
            took = loop.time() - killed_at
            assert took < 10.0
            # Give the new sideband a moment to attach after taking the lease, then talk again.
            await asyncio.sleep(0.5)
            await text_turn(rtc)
            detail = await eventually(lambda: recorded(4))
            assert detail is not None, "the second turn was recorded by the surviving replica"
            ids = [item.item_id for item in detail.items]
            assert len(ids) == len(set(ids)) == 4
            assert [item.role for item in detail.items] == ["user", "assistant", "user", "assistant"]
            assert len({r.response_id for r in detail.responses}) == len(detail.responses) == 2
            assert (await ledger.get_call(call_id)).live  # type: ignore[union-attr]
        finally:
            await rtc.close()
            await leases.aclose()

        async def ended() -> bool:
            call = await ledger.get_call(call_id)
            return call is not None and not call.live

        assert await eventually(ended, 15.0), "the surviving replica recorded the end"


class _Via:
    """The bits of the in-process ``Gateway`` helper :func:`relay` needs, over a real HTTP client."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client


async def test_a_restarted_replica_detaches_without_ending_calls_and_re_attaches(
    gateway_factory: Any, make_server: Callable[..., Awaitable[EngineServer]]
) -> None:
    engine = await make_server()
    settings = {"upstream_url": engine.base_url, "OPENAI_API_KEY": API_KEY, "console_mode": "relay"}
    rtc = RtcClient()
    try:
        async with gateway_factory(**settings) as gw:
            _, key = await gw.user_with_key()
            answered = await relay(gw, key, rtc)
            assert answered.status_code == 201
            await rtc.connect(answered.text)
            call_id = answered.headers["location"].rsplit("/", 1)[-1]
            upstream_id = (await gw.services.ledger.get_call(call_id)).upstream_call_id
        # Shut down: the call goes on.
        assert upstream_id in engine.engine._calls
        assert (await text_turn(rtc))["response"]["status"] == "completed"
        async with gateway_factory(**settings) as gw:
            assert await eventually(lambda: _watching(gw, call_id), 5.0)
            await asyncio.sleep(0.3)
            await text_turn(rtc)

            async def both_turns() -> Any:
                detail = await gw.services.ledger.call_detail(call_id)
                return detail if detail and len(detail.responses) >= 1 and len(detail.items) >= 3 else None

            detail = await eventually(both_turns)
            # The first turn was taken while no replica ran: its user item is lost with the gap, but its
            # reply, which the next turn names as its previous item, is fetched with
            # conversation.item.retrieve.
            assert detail is not None
            assert [(i.role, i.text) for i in detail.items] == [
                ("assistant", 'You said: "hello relay". I am the voxgate echo assistant.'),
                ("user", "hello relay"),
                ("assistant", 'You said: "hello relay". I am the voxgate echo assistant.'),
            ]
            assert len(detail.responses) == 1
            await rtc.close()

            async def ended() -> bool:
                call = await gw.services.ledger.get_call(call_id)
                return call is not None and not call.live

            assert await eventually(ended, 15.0)
    finally:
        await rtc.close()


async def _watching(gw: Any, call_id: str) -> bool:
    return call_id in gw.services.supervisor.watching
