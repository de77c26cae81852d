"""POST /api/client-metrics: the console's connect reports, validated and stored per user; with the console
on upstream ephemeral keys, a reported connect is how voxgate learns of (and records) the call."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Gateway

REPORT = {
    "event": "connect",
    "outcome": "ok",
    "call_id": "rtc_0123abcd",
    "attempt": 0,
    "steps": {"token_ms": 1.5, "mic_ms": 40.0, "sdp_ms": 20.0, "session_updated_ms": 180.0},
}


async def test_reports_are_stored_for_the_user(gateway: Gateway) -> None:
    user, key = await gateway.user_with_key()
    response = await gateway.client.post(
        "/api/client-metrics", json=REPORT, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 204
    (stored,) = await gateway.services.accounts.list_client_reports()
    assert (stored.user_id, stored.event, stored.call_id, stored.steps) == (
        user.id,
        "connect",
        "rtc_0123abcd",
        REPORT["steps"],
    )


async def test_in_relay_mode_a_report_records_no_call(gateway_factory: Any) -> None:
    # voxgate opened every call itself: what a console says about one changes nothing.
    async with gateway_factory(console_mode="relay") as gw:
        _, key = await gw.user_with_key()
        auth = {"Authorization": f"Bearer {key}"}
        assert (await gw.client.post("/api/client-metrics", json=REPORT, headers=auth)).status_code == 204
        assert len(await gw.services.accounts.list_client_reports()) == 1
        assert await gw.services.ledger.get_call_by_upstream("rtc_0123abcd") is None


async def test_in_ephemeral_mode_every_reported_call_is_recorded_for_its_reporter(
    gateway_factory: Any,
) -> None:
    # Even a failed connect: the call may be up upstream while ICE fails, and the console hangs it up.
    async with gateway_factory(console_mode="ephemeral") as gw:
        user, key = await gw.user_with_key()
        auth = {"Authorization": f"Bearer {key}"}
        for report in (
            {**REPORT, "call_id": "rtc_failed", "outcome": "ice_failed"},
            {**REPORT, "call_id": "rtc_ended", "event": "end"},
            REPORT,
        ):
            assert (await gw.client.post("/api/client-metrics", json=report, headers=auth)).status_code == 204
        for upstream_id in ("rtc_failed", "rtc_ended", "rtc_0123abcd"):
            call = await gw.services.ledger.get_call_by_upstream(upstream_id)
            assert call is not None
            assert (call.user_id, call.mode) == (user.id, "ephemeral")
        listed = (await gw.client.get("/api/calls", headers=auth)).json()["data"]
        assert {row["mode"] for row in listed} == {"ephemeral"} and len(listed) == 3
        hangup = await gw.client.post("/api/calls/rtc_failed/hangup", headers=auth)
        assert hangup.status_code == 204


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"event": "party"}, "event"),
        ({"call_id": "../../admin"}, "call_id"),
        ({"steps": {"token_ms": -1}}, "steps.token_ms"),
        ({"steps": {"Bad Name": 1}}, "steps.Bad Name.[key]"),
        ({"outcome": "x" * 40}, "outcome"),
        ({"surprise": 1}, "surprise"),
    ],
)
async def test_bad_reports_are_400(gateway: Gateway, change: dict[str, Any], param: str) -> None:
    _, key = await gateway.user_with_key()
    response = await gateway.client.post(
        "/api/client-metrics", json={**REPORT, **change}, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    assert await gateway.services.accounts.list_client_reports() == []


async def test_reports_need_a_user(gateway: Gateway) -> None:
    assert (await gateway.client.post("/api/client-metrics", json=REPORT)).status_code == 401


async def test_reports_are_rate_limited(gateway_factory: Any) -> None:
    async with gateway_factory(limits={"client_reports_per_user": "2/minute"}) as gw:
        _, key = await gw.user_with_key()
        auth = {"Authorization": f"Bearer {key}"}
        statuses = [
            (await gw.client.post("/api/client-metrics", json=REPORT, headers=auth)).status_code
            for _ in range(3)
        ]
    assert statuses == [204, 204, 429]


async def test_hangup_of_a_call_the_user_never_reported_is_404(gateway: Gateway) -> None:
    _, key = await gateway.user_with_key()
    response = await gateway.client.post(
        "/api/calls/rtc_nothing/hangup", headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "call_not_found"
