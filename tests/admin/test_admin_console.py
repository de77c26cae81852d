"""The admin console in Chromium against ``voxgate serve`` on its embedded engine: an admin sees a user's
live call, changes its instructions (the session is updated through the sideband) and ends it (the
user's page says an administrator ended it, and does not reconnect); users, keys and the audit log work
from the page; a non-admin is refused. Screenshots of every page go to artifacts/admin/."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ARTIFACTS, in_thread
from tests.console.conftest import Console, ConsolePage, serve_console
from voxgate.adapters.sql import AccountStore, Database

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    with serve_console(tmp_path_factory.mktemp("admin"), console_mode="relay") as served:
        yield served


@pytest.fixture(scope="module")
def shots() -> Path:
    folder = ARTIFACTS / "admin"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def admin_key(console: Console, name: str) -> str:
    async def create() -> str:
        db = Database(console.settings.effective_database_url)
        try:
            accounts = AccountStore(db)
            await accounts.create_user(name, "admin")
            return (await accounts.create_api_key(name))[1]
        finally:
            await db.aclose()

    return str(in_thread(create()))


def open_admin(browser: Any, console: Console, key: str, path: str = "/admin/users") -> ConsolePage:
    admin = ConsolePage(browser, console, mic=False).open().sign_in(key)
    admin.page.goto(console.url + path)
    admin.poll("() => document.documentElement.dataset.ready === '1'")
    return admin


def test_an_admin_changes_a_live_calls_instructions_and_ends_it(
    quiet_browser: Any, console: Console, shots: Path
) -> None:
    caller = ConsolePage(quiet_browser, console).open().sign_in(console.new_user("caller"))
    call_id = caller.connect()
    admin = open_admin(quiet_browser, console, admin_key(console, "root"), "/admin/calls")
    page = admin.page
    row = page.locator("tr", has_text=call_id)
    row.wait_for()
    assert "caller" in row.inner_text() and "gpt-realtime" in row.inner_text()
    admin.screenshot(shots, "admin-calls")

    row.locator("input[name=instructions]").fill("Always answer in French.")
    row.get_by_role("button", name="Send instruction").click()
    page.get_by_text(f"Instruction sent to {call_id}.").wait_for()
    # The live session was updated through the sideband: the caller's own channel sees it.
    updated = caller.poll(
        "() => window.__vg.events.map(e => e.event).filter(e => e.type === 'session.updated')"
        ".find(e => (e.session.instructions || '').includes('Always answer in French.'))"
    )
    assert updated["session"]["instructions"].endswith("Always answer in French.")

    relays = len(caller.relayed)
    row.get_by_role("button", name="End", exact=True).click()
    caller.page.get_by_text("The call was ended by an administrator.").wait_for(timeout=10_000)
    caller.page.locator("#call-state[data-state=idle]").wait_for()
    page.get_by_text("No calls are live.").wait_for(timeout=10_000)
    caller.page.wait_for_timeout(1500)
    assert len(caller.relayed) == relays, "the caller's console reconnected after an admin ended the call"


def test_users_keys_budgets_and_the_audit_log_from_the_page(
    quiet_browser: Any, console: Console, shots: Path
) -> None:
    admin = open_admin(quiet_browser, console, admin_key(console, "boss"))
    page = admin.page
    page.fill("input[name=name]", "newcomer")
    page.get_by_role("button", name="Add user").click()
    row = page.locator("tr", has_text="newcomer")
    row.wait_for()
    row.locator("input[name=usd_per_day]").fill("0.5")
    row.get_by_role("button", name="Save").click()
    page.locator("tr", has_text="newcomer").get_by_text("$0.5000 of $0.5000 left").wait_for()
    page.locator("tr", has_text="newcomer").get_by_role("button", name="Sign-in link").click()
    link = page.locator("#secret .secret").inner_text()
    assert link.startswith(console.url + "/signin#link=")
    page.locator("tr", has_text="newcomer").get_by_role("button", name="Make admin").click()
    page.locator("tr", has_text="newcomer").get_by_role("button", name="Make user").wait_for()
    page.locator("tr", has_text="newcomer").get_by_role("button", name="Disable").click()
    page.locator("tr", has_text="newcomer").get_by_role("button", name="Enable").wait_for()
    admin.screenshot(shots, "admin-users")

    page.goto(console.url + "/admin/keys")
    admin.poll("() => document.documentElement.dataset.ready === '1'")
    page.fill("input[name=user]", "newcomer")
    page.get_by_role("button", name="Create key").click()
    secret = page.locator("#secret .secret")
    secret.wait_for()
    key = secret.inner_text()
    assert key.startswith("vg_") or len(key) > 20
    admin.screenshot(shots, "admin-keys")
    page.locator("tr", has_text="newcomer").get_by_role("button", name="Revoke").click()
    page.locator("tr", has_text="newcomer").get_by_text("revoked").wait_for()

    # The audit log: a mint refused for the disabled... and one that worked, filtered by user.
    page.goto(console.url + "/admin/audit")
    admin.poll("() => document.documentElement.dataset.ready === '1'")
    page.locator("table tbody tr").first.wait_for()
    admin.screenshot(shots, "admin-audit")
    page.fill("input[name=user]", "caller")
    page.get_by_role("button", name="Filter").click()
    page.locator("table tbody tr", has_text="relayed").first.wait_for()
    rows = page.locator("table tbody tr").all_inner_texts()
    assert rows and all("caller" in r for r in rows)


def test_a_non_admin_is_refused(quiet_browser: Any, console: Console, shots: Path) -> None:
    user = ConsolePage(quiet_browser, console, mic=False).open().sign_in(console.new_user("plain"))
    user.page.goto(console.url + "/admin/users")
    user.page.get_by_text("Only administrators may use this page.").wait_for()
    user.screenshot(shots, "admin-refused")
    deadline = time.monotonic() + 1
    while time.monotonic() < deadline:
        assert user.page.locator("table").count() == 0
        user.page.wait_for_timeout(100)
