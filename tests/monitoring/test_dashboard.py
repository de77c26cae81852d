"""The admin dashboard: its data over a range from what the ledger, the audit and the reports hold, its
page drawn in Chromium (screenshot in artifacts/monitoring/), and nobody but admins sees either."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ARTIFACTS, CHROMIUM, in_thread, service_missing
from tests.support.server import ServerThread, free_port
from voxgate.adapters.sql import AccountStore, Database, LedgerStore
from voxgate.adapters.sql.probes import ProbeStore
from voxgate.core.accounts import ClientReport, MintRecord
from voxgate.core.ledger import CallResponse, NewCall
from voxgate.core.probe import ProbeResult
from voxgate.settings import Settings
from voxgate.web.app import create_app

# A little in the past, so that "the last 24 hours" ending now holds every seeded row.
NOW = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=2)


async def seed(db: Database) -> dict[str, str]:
    """Three hours of traffic: mints, relayed calls, connect reports, priced responses, probe runs.
    Returns the API keys of an admin and of a plain user."""
    accounts, ledger, probes = AccountStore(db), LedgerStore(db), ProbeStore(db)
    admin = await accounts.create_user("root", "admin")
    ana = await accounts.create_user("ana")
    bob = await accounts.create_user("bob")
    for hours_ago in (0, 1, 1, 2):
        when = NOW - timedelta(hours=hours_ago)
        await accounts.record_mint(MintRecord(ana.id, "127.0.0.1", "ok", 200, 300, "m", when))
        await accounts.record_mint(MintRecord(ana.id, "127.0.0.1", "relayed", 201, None, "m", when))
    await accounts.record_mint(MintRecord(ana.id, "127.0.0.1", "rate_limit_exceeded", 429, 300, "m", NOW))
    flush = getattr(accounts, "flush_audit", None)
    if flush is not None:
        await flush()
    for i, total in enumerate((800.0, 1000.0, 1200.0, 3000.0)):
        steps = {"total_ms": total, "first_audio_ms": total / 2}
        report = ClientReport(ana.id, "connect", "ok", None, None, 0, steps, NOW - timedelta(hours=i % 3))
        await accounts.record_client_report(report)
    failed = ClientReport(bob.id, "connect", "ice_failed", "ice", None, 0, {}, NOW)
    await accounts.record_client_report(failed)
    for user, usd, live in ((ana, "0.50", False), (bob, "0.25", True)):
        call = await ledger.open_call(
            NewCall(f"rtc_{user.name}", user.id, "relay", "gpt-realtime", None, None, started_at=NOW)
        )
        response = CallResponse(f"resp_{user.name}", "completed", {}, Decimal(usd), "gpt-realtime", NOW)
        await ledger.record_response(call.id, response)
        if not live:
            await ledger.end_call(call.id, "hangup")
    for hours_ago, wer in ((2, 0.10), (1, 0.05), (0, 0.0)):
        await probes.record(
            ProbeResult("local engine", "ok", "the quick brown fox", "the quick brown fox", wer, 900.0, 700.0,
                        created_at=NOW - timedelta(hours=hours_ago))
        )  # fmt: skip
    _, admin_key = await accounts.create_api_key(admin.name)
    _, user_key = await accounts.create_api_key(ana.name)
    return {"admin": admin_key, "user": user_key}


def query(hours: int = 6) -> dict[str, str]:
    return {"from": (NOW - timedelta(hours=hours)).isoformat(), "to": (NOW + timedelta(hours=1)).isoformat()}


async def test_dashboard_data_from_real_rows_for_admins_only(gateway_factory: Any) -> None:
    async with gateway_factory() as gw:
        keys = await seed(gw.services.db)
        admin, user = ({"Authorization": f"Bearer {keys[k]}"} for k in ("admin", "user"))
        refused = await gw.client.get("/api/admin/dashboard", params=query(), headers=user)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "forbidden"
        assert (await gw.client.get("/api/admin/dashboard")).status_code == 401
        assert (await gw.client.get("/admin/dashboard", headers=user)).status_code == 403
        page = await gw.client.get("/admin/dashboard")
        assert page.status_code == 303
        assert page.headers["location"] == "/signin"
        data = (await gw.client.get("/api/admin/dashboard", params=query(), headers=admin)).json()
    assert data["step"] == "hour"
    assert sum(p["value"] for p in data["minted"]) == 4  # the refused one is not a mint
    assert [p["value"] for p in data["minted"]][-4:] == [1, 2, 1, 0]
    assert sum(p["value"] for p in data["relayed"]) == 4
    assert data["connects"]["total"] == 5
    assert data["connects"]["success_rate"] == pytest.approx(0.8)
    assert data["connect_ms"]["n"] == 4
    assert data["connect_ms"]["p50"] == pytest.approx(1100.0)
    assert data["connect_ms"]["p95"] == pytest.approx(1200 + 0.85 * 1800)
    # Consoles' first audio and the probe's.
    assert data["first_audio_ms"]["n"] == 7
    assert sum(Decimal(p["usd"]) for p in data["cost_per_day"]) == Decimal("0.75")
    ranking = [(r["user"], Decimal(r["usd"])) for r in data["cost_per_user"]]
    assert ranking == [("ana", Decimal("0.5")), ("bob", Decimal("0.25"))]
    assert data["live_calls"]["now"] == 1
    assert max(p["value"] for p in data["live_calls"]["series"]) == 2
    assert [r["wer"] for r in data["accuracy"]] == [0.10, 0.05, 0.0]


async def test_a_long_range_is_daily_and_a_backwards_one_is_refused(gateway_factory: Any) -> None:
    async with gateway_factory() as gw:
        keys = await seed(gw.services.db)
        admin = {"Authorization": f"Bearer {keys['admin']}"}
        daily = (await gw.client.get("/api/admin/dashboard", params=query(24 * 10), headers=admin)).json()
        assert daily["step"] == "day"
        assert sum(p["value"] for p in daily["minted"]) == 4
        backwards = {"from": NOW.isoformat(), "to": (NOW - timedelta(hours=1)).isoformat()}
        refused = await gw.client.get("/api/admin/dashboard", params=backwards, headers=admin)
        assert refused.status_code == 400
        for edge in (
            {"to": "0001-01-01T01:00:00Z"},
            {"from": "9999-12-31T23:00:00Z", "to": "9999-12-31T23:59:00Z"},
        ):
            assert (
                await gw.client.get("/api/admin/dashboard", params=edge, headers=admin)
            ).status_code == 400


@pytest.fixture
def served(tmp_path: Path, make_settings: Any) -> Iterator[tuple[str, dict[str, str], Settings]]:
    port = free_port()
    # The seeded live call has no upstream behind it: no scan may find it (and end it) during the test.
    settings = make_settings(
        port=port, public_url=f"http://127.0.0.1:{port}", supervisor={"scan_interval_s": 3600}
    )

    async def prepare() -> dict[str, str]:
        db = Database(settings.effective_database_url)
        try:
            await db.migrate()
            keys = await seed(db)
            accounts = AccountStore(db)
            keys["admin_link"] = await accounts.create_signin_link("root", timedelta(minutes=5))
            keys["user_link"] = await accounts.create_signin_link("ana", timedelta(minutes=5))
            return keys
        finally:
            await db.aclose()

    keys = in_thread(prepare())
    with ServerThread(create_app(settings), port=port) as server:
        yield server.url, keys, settings


@pytest.mark.browser
def test_dashboard_renders_in_chromium_for_admins_only(
    served: tuple[str, dict[str, str], Settings],
) -> None:
    if not Path(CHROMIUM).exists():
        service_missing("chromium at /usr/bin/chromium", "not installed")
    from playwright.sync_api import sync_playwright

    url, keys, _ = served
    folder = ARTIFACTS / "monitoring"
    folder.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            # A plain user, signed in, is refused the page.
            context = browser.new_context()
            signed = context.request.post(f"{url}/api/auth/signin", data={"link": keys["user_link"]},
                                          headers={"Origin": url})  # fmt: skip
            assert signed.status == 200, signed.text()
            assert context.request.get(f"{url}/admin/dashboard").status == 403
            context.close()
            context = browser.new_context(viewport={"width": 1280, "height": 1500})
            errors: list[str] = []
            page = context.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            signed = context.request.post(f"{url}/api/auth/signin", data={"link": keys["admin_link"]},
                                          headers={"Origin": url})  # fmt: skip
            assert signed.status == 200, signed.text()
            page.goto(f"{url}/admin/dashboard")
            page.wait_for_selector("body[data-loaded=true]", timeout=15_000)
            assert page.locator("#connects .figure").inner_text() == "80 % (4 of 5)"
            # The admin console's nav, this page marked current.
            assert (
                page.locator('#admin-nav a[aria-current="page"]').get_attribute("href") == "/admin/dashboard"
            )
            assert page.locator('#admin-nav a[href="/admin/users"]').count() == 1
            assert page.locator("#live_calls .figure").inner_text() == "1 now"
            assert page.locator("#accuracy .figure").inner_text().startswith("WER 0 %")
            assert page.locator("#cost_per_user svg rect").count() == 2
            # Every chart card drew its SVG, with lines or bars in it.
            assert page.locator(".card svg.chart").count() == 8
            assert page.locator("#minted path.line").count() == 2
            # The range picker asks again: seven days are still hourly? no: beyond three days, daily.
            with page.expect_response(lambda r: "/api/admin/dashboard" in r.url) as answer:
                page.select_option("#range", "7d")
            assert answer.value.json()["step"] == "day"
            page.wait_for_timeout(300)
            with page.expect_response(lambda r: "/api/admin/dashboard" in r.url):
                page.select_option("#range", "6h")
            page.wait_for_timeout(300)
            page.screenshot(path=str(folder / "dashboard.png"), full_page=True)
            assert errors == []
        finally:
            browser.close()
