"""The console in Chromium against ``voxgate serve`` on its embedded engine, relay mode: a user with a tiny
budget sees the warning and hears the assistant say it, the call is ended at the budget and the page says
why and when it resets (no reconnect), and the next Connect is refused with that message. Also the
maximum call length, and a user disabled mid-call.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import in_thread
from tests.console.conftest import Console, ConsolePage, serve_console
from voxgate.adapters.authcache import CredentialCache, open_epoch
from voxgate.adapters.sql import AccountStore, Database
from voxgate.adapters.sql.budgets import BudgetStore
from voxgate.adapters.sql.database import sqlite_path

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    with serve_console(
        tmp_path_factory.mktemp("budgets"),
        console_mode="relay",
        budgets={"admission_minutes": "0.0001", "user_usd_per_day": "1"},
    ) as served:
        yield served


@pytest.fixture
def short_calls(tmp_path: Path) -> Iterator[Console]:
    with serve_console(tmp_path, console_mode="relay", calls={"max_minutes": 0.1}) as served:
        yield served


def on_db(console: Console, work: Any) -> Any:
    async def run() -> Any:
        db = Database(console.settings.effective_database_url)
        try:
            return await work(db)
        finally:
            await db.aclose()

    return in_thread(run())


def user_id(console: Console, name: str) -> int:
    async def work(db: Database) -> int:
        return (await AccountStore(db).get_user(name)).id

    return int(on_db(console, work))


def call_cost(console: Console, call_id: str) -> Decimal:
    async def work(db: Database) -> Decimal:
        return await BudgetStore(db).call_cost(call_id)

    return Decimal(on_db(console, work))


def set_budget(console: Console, uid: int, usd: Decimal) -> None:
    """Set a user's daily budget as ``voxgate budgets set`` does from a process of its own: stored, then
    the revocation epoch moved, so that the running server forgets the overrides it answers from memory."""

    async def work(db: Database) -> None:
        settings = console.settings
        epoch = open_epoch(settings.redis_url, settings.redis_prefix, sqlite_path(db.url))
        cache: CredentialCache[dict[str, Decimal | None]] = CredentialCache(epoch)
        try:
            await BudgetStore(db, cache).set_overrides(uid, {"usd_per_day": usd})
        finally:
            await cache.aclose()

    on_db(console, work)


def wait_for(check: Any, page: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {check}"
        page.wait_for_timeout(100)
    return value


def test_a_tiny_budget_warns_then_ends_the_call_and_refuses_the_next(
    quiet_browser: Any, console: Console, artifacts: Path
) -> None:
    name = "tiny-budget"
    key = console.new_user(name)
    console_page = ConsolePage(quiet_browser, console).open().sign_in(key)
    page = console_page.page
    call_id = console_page.connect()
    page.fill("#text-input", "how much is left")
    page.keyboard.press("Enter")
    console_page.wait_event("response.done")
    first = wait_for(lambda: call_cost(console, call_id), page)
    # The turn has used 95 % of the day's budget now.
    set_budget(console, user_id(console, name), first / Decimal("0.95"))

    warning = page.locator("#call-warning")
    warning.wait_for(state="visible", timeout=10_000)
    assert warning.inner_text() == (
        "Warning: your daily budget is nearly used up; the call will end when it is."
    )
    console_page.screenshot(artifacts, "budget-01-warning")
    # The assistant says it: an out-of-band response on the page's own data channel, in audio.
    said = console_page.poll(
        "() => window.__vg.events.map(e => e.event).find(e => e.type === 'response.done'"
        " && e.response.metadata && e.response.metadata.voxgate === 'budget_warning')"
    )
    spoken = str(said["response"]["output"])
    assert (
        "nearly used up" in spoken and said["response"]["usage"]["output_token_details"]["audio_tokens"] > 0
    )

    # The warning's own cost uses the rest: the call ends, and the page says why and when it resets.
    error = page.locator("#error .error-text")
    error.wait_for(state="visible", timeout=10_000)
    assert error.inner_text() == "The call ended: daily budget used up, resets at 00:00 UTC."
    page.locator("#call-state[data-state=idle]").wait_for()
    console_page.screenshot(artifacts, "budget-02-ended")
    relays = len(console_page.relayed)
    page.wait_for_timeout(2000)
    assert len(console_page.relayed) == relays, "the console reconnected after voxgate ended the call"
    assert page.locator("#call-state").get_attribute("data-state") == "idle"

    # The next Connect is refused with the same words.
    page.click("#connect-button")
    page.get_by_text("Your daily budget is used up; it resets at 00:00 UTC.").wait_for(timeout=10_000)
    console_page.screenshot(artifacts, "budget-03-refused")
    assert not console_page.errors or all("429" in e for e in console_page.errors), console_page.errors
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert tomorrow  # the reset time is the next midnight UTC (checked in the API tests)


def test_the_maximum_call_length_ends_the_call_with_its_reason(
    quiet_browser: Any, short_calls: Console
) -> None:
    key = short_calls.new_user("long-caller")
    console_page = ConsolePage(quiet_browser, short_calls).open().sign_in(key)
    page = console_page.page
    console_page.connect()
    page.locator("#call-warning").wait_for(state="visible", timeout=10_000)
    assert "will end soon" in page.locator("#call-warning").inner_text()
    error = page.locator("#error .error-text")
    error.wait_for(state="visible", timeout=10_000)
    assert error.inner_text() == "The call ended: it reached the maximum length of 0.1 minutes."
    relays = len(console_page.relayed)
    page.wait_for_timeout(2000)
    assert (
        len(console_page.relayed) == relays
        and page.locator("#call-state").get_attribute("data-state") == "idle"
    )


def test_disabling_the_user_mid_call_ends_it_within_2_s_and_says_why(
    quiet_browser: Any, console: Console, artifacts: Path
) -> None:
    name = "to-be-disabled"
    key = console.new_user(name)
    console_page = ConsolePage(quiet_browser, console).open().sign_in(key)
    page = console_page.page
    console_page.connect()

    async def disable(db: Database) -> None:
        await AccountStore(db).set_disabled(name)

    started = time.monotonic()
    on_db(console, disable)
    page.locator("#call-state[data-state=idle]").wait_for(timeout=5_000)
    elapsed = time.monotonic() - started
    assert elapsed < 2.5, f"the call outlived its disabled user by {elapsed:.1f} s"
    page.locator("#error .error-text").get_by_text("disabled").wait_for(timeout=5_000)
    console_page.screenshot(artifacts, "budget-04-disabled")
