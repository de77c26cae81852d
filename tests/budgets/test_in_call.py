"""During a call, against the real local engine: the warning then the end at the budget (reason and reset
time recorded for the page), the maximum call length, and revocation (a disabled user, a revoked key)
ending live calls within 2 s."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from decimal import Decimal
from typing import Any

from tests.engine.gateway.test_relay import eventually, relay, text_turn
from tests.engine.realtime_kit import RtcClient


async def connected(gw: Any, key: str) -> tuple[RtcClient, str]:
    rtc = RtcClient()
    answered = await relay(gw, key, rtc)
    assert answered.status_code == 201, answered.text
    await rtc.connect(answered.text)
    await rtc.events.expect("session.created")
    return rtc, answered.headers["location"].rsplit("/", 1)[-1]


async def ended(gw: Any, call_id: str, within: float) -> Any:
    async def check() -> Any:
        call = await gw.services.ledger.get_call(call_id)
        return call if call is not None and not call.live else None

    return await eventually(check, within)


async def notices(gw: Any, call_id: str) -> list[tuple[str, dict[str, Any]]]:
    return [(n.kind, n.data) for n in await gw.services.budget.notices.since(call_id)]


async def test_a_call_is_warned_then_ended_at_the_budget(budget_gateway: Any) -> None:
    async with budget_gateway(budgets={"admission_minutes": "0.0001", "user_usd_per_day": "1"}) as gw:
        user, key = await gw.user_with_key()
        rtc, call_id = await connected(gw, key)
        try:
            await text_turn(rtc)
            budgets = gw.services.budget.budgets
            first = await eventually(lambda: budgets.call_cost(call_id))
            await asyncio.sleep(0.3)
            spent = (await budgets.spent(user.id)).usd_day
            # What is recorded is 93 % of the budget now: the guard's next check warns.
            await budgets.set_overrides(user.id, {"usd_per_day": spent / Decimal("0.93")})

            async def warned() -> bool:
                return "warning" in [kind for kind, _ in await notices(gw, call_id)]

            detail = await gw.services.ledger.call_detail(call_id)
            assert await eventually(warned, within=10), (
                first,
                spent,
                [(r.response_id, r.cost_usd) for r in detail.responses],
                await notices(gw, call_id),
            )
            # The assistant is told to say it (an out-of-band response with fixed instructions).
            said = await rtc.events.until("response.done")
            spoken = said[-1]["response"]
            assert spoken["metadata"] == {"voxgate": "budget_warning"}
            assert "nearly used up" in str(spoken["output"])
            with_turns = asyncio.create_task(keep_talking(rtc))
            call = await ended(gw, call_id, within=20)
            with_turns.cancel()
            assert call.end_reason == "budget_exhausted"

            async def why() -> list[dict[str, Any]]:
                return [data for kind, data in await notices(gw, call_id) if kind == "ended"]

            (end,) = await eventually(why, within=2)
            assert end["reason"] == "budget_exhausted" and end["limit"] == "user_usd_per_day"
            assert end["words"] == "daily budget used up, resets at 00:00 UTC"
            assert end["resets_at"].endswith("T00:00:00Z")
            # Overshoot: the response that crossed the limit, and at most one more already in flight.
            await asyncio.sleep(1.0)  # what was in flight at the hang-up is recorded too
            detail = await gw.services.ledger.call_detail(call_id)
            largest = sorted((r.cost_usd for r in detail.responses), reverse=True)[:2]
            assert (await budgets.spent(user.id)).usd_day <= spent / Decimal("0.93") + sum(largest)
        finally:
            await rtc.close()
        refused = await gw.mint(key)
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "budget_exhausted"


async def events_of(gw: Any, key: str, call_id: str) -> list[tuple[str, dict[str, Any]]]:
    """The call's server-sent events, until the stream ends."""
    events: list[tuple[str, dict[str, Any]]] = []
    headers = {"Authorization": f"Bearer {key}"}
    async with gw.client.stream("GET", f"/api/calls/{call_id}/events", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        name = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
    return events


async def keep_talking(rtc: RtcClient) -> None:
    """A turn every half second (spoken replies take seconds; back-to-back text turns would outrun any
    guard that reads the ledger)."""
    while True:
        with contextlib.suppress(Exception):
            await text_turn(rtc)
        await asyncio.sleep(0.5)


async def test_the_maximum_call_length_ends_a_call_with_its_reason(budget_gateway: Any) -> None:
    async with budget_gateway(calls={"max_minutes": 0.05}) as gw:
        _, key = await gw.user_with_key()
        rtc, call_id = await connected(gw, key)
        try:
            stream = asyncio.create_task(events_of(gw, key, call_id))
            call = await ended(gw, call_id, within=15)
            assert call.end_reason == "max_duration"
            # The page hears the warning and why the call ended, from voxgate itself.
            seen = await asyncio.wait_for(stream, 5)
            names = [name for name, _ in seen]
            assert names[0] == "budget" and "cost" in names
            assert names[-2:] == ["warning", "ended"]
            assert seen[-2][1]["kind"] == "max_duration"
            assert seen[-1][1]["reason"] == "max_duration" and seen[-1][1]["max_minutes"] == 0.05

            async def told() -> list[str]:
                kinds = [kind for kind, _ in await notices(gw, call_id)]
                return kinds if "ended" in kinds else []

            assert await eventually(told, within=2) == ["warning", "ended"]
            assert (call.ended_at - call.started_at).total_seconds() >= 3
        finally:
            await rtc.close()


async def test_disabling_a_user_ends_their_live_calls_within_2_s(budget_gateway: Any) -> None:
    async with budget_gateway() as gw:
        user, key = await gw.user_with_key()
        rtc, call_id = await connected(gw, key)
        try:
            await eventually(lambda: asyncio.sleep(0, call_id in gw.services.budget.guard.watched))
            started = time.monotonic()
            await gw.services.accounts.set_disabled(user.name)
            call = await ended(gw, call_id, within=2.0)
            assert call is not None, "the call outlived its user by 2 s"
            assert call.end_reason == "user_disabled"
            assert time.monotonic() - started < 2.0
        finally:
            await rtc.close()


async def test_revoking_the_key_a_call_was_made_with_ends_it(budget_gateway: Any) -> None:
    async with budget_gateway() as gw:
        user, key = await gw.user_with_key()
        rtc, call_id = await connected(gw, key)
        try:
            await eventually(lambda: asyncio.sleep(0, call_id in gw.services.budget.guard.watched))
            (info,) = await gw.services.accounts.list_api_keys(user.name)
            await gw.services.accounts.revoke_api_key(info.id)
            call = await ended(gw, call_id, within=2.0)
            assert call is not None and call.end_reason == "key_revoked"
        finally:
            await rtc.close()


async def test_an_end_and_an_instruction_asked_through_the_database_are_carried_out(
    budget_gateway: Any,
) -> None:
    async with budget_gateway() as gw:
        _, key = await gw.user_with_key()
        _, admin_key = await gw.user_with_key(role="admin")
        rtc, call_id = await connected(gw, key)
        try:
            await eventually(lambda: asyncio.sleep(0, call_id in gw.services.budget.guard.watched))
            headers = {"Authorization": f"Bearer {admin_key}"}
            asked = await gw.client.post(
                f"/api/admin/calls/{call_id}/instructions",
                json={"instructions": "Answer in French.", "mode": "append"},
                headers=headers,
            )
            assert asked.status_code == 202, asked.text
            updated = await rtc.events.until("session.updated")
            instructions = updated[-1]["session"]["instructions"]
            assert instructions.endswith("\n\nAnswer in French.")
            assert instructions.startswith(gw.services.policy.instructions)
            # As `voxgate calls end` asks it (the CLI cannot reach the upstream).
            await gw.services.budget.notices.add(call_id, "end", {}, pending=True)
            call = await ended(gw, call_id, within=2.0)
            assert call is not None and call.end_reason == "admin_ended"
        finally:
            await rtc.close()


async def test_revoking_the_key_a_relay_ticket_was_issued_under_ends_the_ticket_call(
    budget_gateway: Any,
) -> None:
    async with budget_gateway() as gw:
        user, key = await gw.user_with_key()
        ticket = (await gw.mint(key)).json()["value"]
        rtc = RtcClient()
        try:
            answered = await relay(gw, ticket, rtc)
            assert answered.status_code == 201, answered.text
            call_id = answered.headers["location"].rsplit("/", 1)[-1]
            await rtc.connect(answered.text)
            await eventually(lambda: asyncio.sleep(0, call_id in gw.services.budget.guard.watched))
            (info,) = await gw.services.accounts.list_api_keys(user.name)
            await gw.services.accounts.revoke_api_key(info.id)
            call = await ended(gw, call_id, within=2.0)
            assert call is not None and call.end_reason == "key_revoked"
        finally:
            await rtc.close()
