"""A call taken over from a replica that went away counts as a re-attach, and its new watcher's live
calls go up while the old one's came down (both replicas in this process: one registry, so deltas)."""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import REGISTRY

from tests.support.fake_openai import FakeOpenAIState

OFFER = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"


def sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


async def test_a_taken_over_call_is_a_reattach(gateway_factory: Any, fake_openai: FakeOpenAIState) -> None:
    fast = {"supervisor": {"scan_interval_s": 0.2, "lease_ttl_s": 1.0, "heartbeat_s": 0.3}}
    first = gateway_factory(**fast)
    a = await first.__aenter__()
    try:
        _, key = await a.user_with_key()
        relayed = await a.client.post(
            "/api/realtime/calls",
            content=OFFER,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/sdp"},
        )
        assert relayed.status_code == 201, relayed.text
        call_id = relayed.headers["location"].rsplit("/", 1)[-1]
        async with asyncio.timeout(10):
            while True:  # until the sideband's events are on record
                detail = await a.services.ledger.call_detail(call_id)
                if detail is not None and detail.responses:
                    break
                await asyncio.sleep(0.05)
        reattaches, attaches = (
            sample("voxgate_supervisor_reattaches_total"),
            sample("voxgate_supervisor_attach_seconds_count"),
        )
        live = sample("voxgate_live_calls")
    except BaseException:
        await first.__aexit__(None, None, None)
        raise
    async with gateway_factory(**fast) as b:
        taken = asyncio.Event()
        b.services.supervisor.on_attached = lambda call: taken.set()
        await first.__aexit__(None, None, None)  # replica A goes away: it detaches and frees the lease
        assert sample("voxgate_live_calls") == live - 1
        async with asyncio.timeout(15):
            await taken.wait()
        assert call_id in b.services.supervisor.watching
        assert sample("voxgate_supervisor_reattaches_total") == reattaches + 1
        assert sample("voxgate_supervisor_attach_seconds_count") == attaches + 1
        assert sample("voxgate_live_calls") == live
