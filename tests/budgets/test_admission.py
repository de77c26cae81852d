"""Admission against the real local engine: the per-user cap of live calls (429 with Retry-After,
freed when a call ends), and budgets refusing mints and relays with when they reset."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.engine.gateway.test_gateway_engine import dial
from tests.engine.gateway.test_relay import eventually, relay, text_turn
from tests.engine.realtime_kit import RtcClient


async def test_a_user_at_the_cap_is_refused_until_a_call_ends(budget_gateway: Any) -> None:
    async with budget_gateway(calls={"per_user": 1}) as gw:
        _, key = await gw.user_with_key()
        first, second, third = RtcClient(), RtcClient(), RtcClient()
        try:
            answered = await relay(gw, key, first)
            assert answered.status_code == 201, answered.text
            call_id = answered.headers["location"].rsplit("/", 1)[-1]
            refused = await relay(gw, key, second)
            assert refused.status_code == 429
            assert refused.json()["error"]["code"] == "too_many_calls"
            assert int(refused.headers["retry-after"]) > 0
            # Another user has places of their own.
            _, other_key = await gw.user_with_key()
            other = await relay(gw, other_key, third)
            assert other.status_code == 201, other.text
            hangup = await gw.client.post(
                f"/api/calls/{call_id}/hangup", headers={"Authorization": f"Bearer {key}"}
            )
            assert hangup.status_code == 204

            async def admitted() -> bool:
                retry = RtcClient()
                try:
                    response = await relay(gw, key, retry)
                    return response.status_code == 201
                finally:
                    await retry.close()

            assert await eventually(admitted, within=10)
        finally:
            for rtc in (first, second, third):
                with contextlib.suppress(Exception):
                    await rtc.close()


async def test_an_exhausted_daily_budget_refuses_mint_and_relay_with_its_reset_time(
    budget_gateway: Any,
) -> None:
    async with budget_gateway(budgets={"user_usd_per_day": "0.5"}) as gw:
        user, key = await gw.user_with_key()
        rtc = RtcClient()
        try:
            answered = await relay(gw, key, rtc)
            assert answered.status_code == 201, answered.text
            await rtc.connect(answered.text)
            await rtc.events.expect("session.created")
            await text_turn(rtc)
        finally:
            await rtc.close()
        # Spend the rest of the day's budget (as if earlier calls had).
        budget = gw.services.budget
        await budget.budgets.set_overrides(user.id, {"usd_per_day": Decimal("0.0000001")})
        minted = await gw.mint(key)
        assert minted.status_code == 429, minted.text
        error = minted.json()["error"]
        tomorrow = (datetime.now(UTC) + timedelta(days=1)).date()
        assert error["code"] == "budget_exhausted"
        assert error["limit"] == "user_usd_per_day"
        assert error["resets_at"] == f"{tomorrow.isoformat()}T00:00:00Z"
        assert "daily budget is used up" in error["message"] and "00:00 UTC" in error["message"]
        assert 0 < int(minted.headers["retry-after"]) <= 86400
        again = RtcClient()
        try:
            refused = await relay(gw, key, again)
        finally:
            await again.close()
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "budget_exhausted"


async def test_a_call_a_console_opened_itself_past_the_cap_is_ended(budget_gateway: Any) -> None:
    # Ephemeral mode: the browser posts its offer upstream itself, and voxgate learns of the call from
    # the console's report. The cap is enforced when the call is attached: one past it is hung up.
    async with budget_gateway(console_mode="ephemeral", calls={"per_user": 1}) as gw:
        _, key = await gw.user_with_key()
        auth = {"Authorization": f"Bearer {key}"}
        clients = [RtcClient(), RtcClient()]
        try:
            ids = []
            for rtc in clients:
                token = (await gw.mint(key)).json()
                call_id, _ = await dial(rtc, token)
                report = {"event": "connect", "outcome": "ok", "call_id": call_id}
                assert (
                    await gw.client.post("/api/client-metrics", json=report, headers=auth)
                ).status_code == 204

                async def adopted(upstream: str = call_id) -> Any:
                    return await gw.services.ledger.get_call_by_upstream(upstream)

                ids.append((await eventually(adopted)).id)

            async def second_ended() -> Any:
                call = await gw.services.ledger.get_call(ids[1])
                return call if call is not None and not call.live else None

            ended = await eventually(second_ended, within=5)
            assert ended is not None and ended.end_reason == "too_many_calls"
            first = await gw.services.ledger.get_call(ids[0])
            assert first is not None and first.live
        finally:
            for rtc in clients:
                with contextlib.suppress(Exception):
                    await rtc.close()
