"""A GPT-Live call on two voxgate replicas (PostgreSQL + Redis): the supervising replica killed with
SIGKILL mid-call is replaced by the other, which re-attaches to the Live sideband; the ledger holds every
turn exactly once and one cumulative usage row, never a sum, and the survivor records the close."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.engine.gateway.test_replicas import Replica, ledger_on, replicas
from tests.engine.live.live_kit import ScriptedMic
from tests.engine.voice.test_voice_observer import LoudnessVad, ScriptedRecognizer
from tests.live.test_live_relay import dc_reader, eventually, speak
from tests.support.server import free_port
from voxgate.adapters.leases import RedisLeases
from voxgate.core.ledger import CallDetail
from voxgate.core.live_cost import LIVE_USAGE_ID
from voxgate.engine.config import EngineConfig
from voxgate.engine.voice.observer import voice_observer_factory
from voxgate.testing.rtc import RtcClient
from voxgate.testing.server import TEST_API_KEY, EngineServer

__all__ = ["replicas"]  # the fixture, shared with the Realtime replicas test

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


async def test_a_live_call_survives_its_replica_killed_with_nothing_lost_or_doubled(
    postgres_url: str,
    redis_url: str,
    make_server: Callable[..., Awaitable[EngineServer]],
    replicas: Callable[[dict[str, str]], Replica],
) -> None:
    from tests.conftest import _reset_schema

    _reset_schema(postgres_url)
    config = EngineConfig(api_keys=frozenset({TEST_API_KEY}), live_usage_interval_s=1.0)
    observer = voice_observer_factory(LoudnessVad, ScriptedRecognizer("hello there"))
    engine = await make_server(config, observer_factory=observer)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("VOXGATE_", "OPENAI_"))},
        "OPENAI_API_KEY": TEST_API_KEY,
        "VOXGATE_UPSTREAM_URL": engine.base_url,
        "VOXGATE_DATABASE_URL": postgres_url,
        "VOXGATE_REDIS_URL": redis_url,
        "VOXGATE_REDIS_PREFIX": f"voxgate-test-{os.getpid()}-{free_port()}",
        "VOXGATE_SUPERVISOR__LEASE_TTL_S": "3",
        "VOXGATE_SUPERVISOR__HEARTBEAT_S": "1",
        "VOXGATE_SUPERVISOR__SCAN_INTERVAL_S": "1",
    }
    async with ledger_on(postgres_url) as (accounts, ledger):
        await accounts.create_user("kim")
        _, key = await accounts.create_api_key("kim")
        first, second = replicas(env), replicas(env)
        await asyncio.gather(first.ready(), second.ready())
        leases = RedisLeases(redis_url, env["VOXGATE_REDIS_PREFIX"])
        mic = ScriptedMic()
        rtc = RtcClient(mic=mic)
        dc = await dc_reader(rtc)
        auth = {"Authorization": f"Bearer {key}"}
        try:
            body = {
                "session": {"model": "gpt-live-1.1"},
                "transport": {"type": "webrtc", "sdp": await rtc.offer()},
            }
            async with httpx.AsyncClient(base_url=first.url, timeout=10) as http:
                answered = await http.post("/api/live/sessions", json=body, headers=auth)
            assert answered.status_code == 201, answered.text
            created_at = time.monotonic()
            call_id = answered.json()["session"]["id"]
            await rtc.connect(answered.json()["transport"]["sdp"])
            await dc.until("session.started")

            async def turns(n: int) -> CallDetail | None:
                detail = await ledger.call_detail(call_id)
                done = detail and len(detail.items) >= n and all(item.text for item in detail.items)
                return detail if done and detail.items[-1].role == "assistant" else None

            await speak(mic)
            assert await eventually(lambda: turns(2)), "the first turn was recorded"
            holder = await leases.holder(f"call:{call_id}")
            assert holder is not None and f":{first.process.pid}:" in holder, holder

            first.kill()

            async def taken_over() -> bool:
                now = await leases.holder(f"call:{call_id}")
                return now is not None and f":{second.process.pid}:" in now

            assert await eventually(taken_over, 10.0), "the other replica took the call over within 10 s"
            await asyncio.sleep(0.5)  # its sideband attaches just after it takes the lease
            await speak(mic)
            detail = await eventually(lambda: turns(4))
            assert detail is not None, "the second turn was recorded by the surviving replica"
            ids = [item.item_id for item in detail.items]
            assert len(ids) == len(set(ids)) == 4
            assert [item.role for item in detail.items] == ["user", "assistant", "user", "assistant"]
            for user_turn in (detail.items[0], detail.items[2]):
                assert (user_turn.text or "").count("hello") == 1, user_turn  # neither lost nor doubled
            [usage] = [r for r in detail.responses if r.response_id == LIVE_USAGE_ID]
            assert len(detail.responses) == 1
            # Cumulative: never more than the call has lasted (a sum over usage events would be).
            assert 1 <= usage.usage["seconds"] <= time.monotonic() - created_at + 1

            async with httpx.AsyncClient(base_url=second.url, timeout=10) as http:
                hung = await http.post(f"/api/calls/{call_id}/hangup", headers=auth)
            assert hung.status_code in (200, 204), hung.text
            closed = await dc.until("session.closed")
        finally:
            await rtc.close()
            await leases.aclose()

        async def final() -> Any:
            detail = await ledger.call_detail(call_id)
            rows = [r for r in detail.responses if r.status == "completed"] if detail else []
            return detail if rows and not detail.summary.call.live else None

        detail = await eventually(final, 15.0)
        assert detail is not None, "the surviving replica recorded the close"
        assert detail.summary.call.end_reason == "hangup"
        assert detail.responses[0].usage["seconds"] == closed["usage"]["seconds"]
