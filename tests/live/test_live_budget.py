"""Budgets on a GPT-Live call: admission reserves a minute at the Live rate, the guard warns through the
sideband with commentary the model voices (GPT-Live has no responses to create), and ends the call at the
budget with ``session.close``; the ledger says why, with the final usage."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from tests.engine.live.live_kit import ScriptedMic
from tests.live.test_live_relay import dc_reader, eventually
from voxgate.core.budgets import minute_estimate
from voxgate.core.prices import default_prices
from voxgate.engine.config import EngineConfig
from voxgate.testing.rtc import RtcClient
from voxgate.testing.server import TEST_API_KEY


def test_a_live_minute_is_estimated_at_its_active_rate() -> None:
    assert minute_estimate(default_prices(), "gpt-live-1.1") == Decimal("0.05")


@pytest.fixture
async def budget_gateway(gateway_factory: Any, make_server: Any) -> AsyncIterator[Any]:
    engine = await make_server(EngineConfig(api_keys=frozenset({TEST_API_KEY}), live_usage_interval_s=1.0))
    async with gateway_factory(
        upstream_url=engine.base_url,
        OPENAI_API_KEY=TEST_API_KEY,
        console_mode="relay",
        budgets={"user_usd_per_day": "1"},
    ) as gw:
        yield gw


async def test_a_live_call_is_warned_by_commentary_then_closed_at_the_budget(budget_gateway: Any) -> None:
    gw = budget_gateway
    user, key = await gw.user_with_key()
    rtc = RtcClient(mic=ScriptedMic())
    dc = await dc_reader(rtc)
    try:
        body = {
            "session": {"model": "gpt-live-1.1"},
            "transport": {"type": "webrtc", "sdp": await rtc.offer()},
        }
        answered = await gw.client.post(
            "/api/live/sessions", json=body, headers={"Authorization": f"Bearer {key}"}
        )
        assert answered.status_code == 201, answered.text
        call_id = answered.json()["session"]["id"]
        await rtc.connect(answered.json()["transport"]["sdp"])
        await dc.until("session.started")
        budgets = gw.services.budget.budgets
        # The creation charge (15 s at $0.05/min) is spent at once; make it 95 % of the day's budget.
        spent = await budgets.call_cost(call_id)
        assert spent == Decimal("0.0125")
        await budgets.set_overrides(user.id, {"usd_per_day": spent / Decimal("0.95")})

        async def warned() -> bool:
            return any(n.kind == "warning" for n in await gw.services.budget.notices.since(call_id))

        assert await eventually(warned, within=10)
        # The model voices the notice: it was commentary on the sideband.
        words = ""
        while "nearly used up" not in words:
            words += (await dc.until("session.output_transcript.delta", within=20))["delta"]
        # Session time runs on past the creation charge; at the budget voxgate closes the session.
        closed = await dc.until("session.closed", within=40)
        assert closed["reason"] == "close_requested"

        async def final() -> Any:
            detail = await gw.services.ledger.call_detail(call_id)
            done = detail and not detail.summary.call.live and detail.responses[0].status == "completed"
            return detail if done else None

        detail = await eventually(final, within=10)
        assert detail.summary.call.end_reason == "budget_exhausted"
        assert detail.responses[0].usage["seconds"] == closed["usage"]["seconds"]
    finally:
        await rtc.close()
    refused = await gw.client.post(
        "/api/live/sessions",
        json={"session": {"model": "gpt-live-1.1"}, "transport": {"type": "webrtc", "sdp": "v=0\r\n"}},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "budget_exhausted"
