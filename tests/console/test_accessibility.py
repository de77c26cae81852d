"""axe-core (vendored in tests/console/vendor, a test tool never shipped) finds no serious or critical
accessibility violation on any page voxgate serves: the console signed out and signed in, History, one
call's page, every admin section, the dashboard and the API docs; on a desktop, on a 390x844 phone, and
in dark mode. Screenshots of each go to artifacts/console/a11y-*.png.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import in_thread
from tests.console.conftest import Console, ConsolePage, serve_console
from voxgate.adapters.sql import AccountStore, Database

pytestmark = pytest.mark.browser

AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text(encoding="utf-8")
SERIOUS = {"serious", "critical"}
ADMIN_SECTIONS = ("users", "keys", "budgets", "calls", "audit")

# Each look at the pages: a name for the screenshots, and the browser context's options.
LOOKS: dict[str, dict[str, Any]] = {
    "desktop": {"viewport": {"width": 1280, "height": 900}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
    "dark": {"viewport": {"width": 1280, "height": 900}, "color_scheme": "dark"},
}


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """Relay mode, so the call made below is in the ledger and has a page of its own."""
    with serve_console(tmp_path_factory.mktemp("a11y"), console_mode="relay") as served:
        yield served


@pytest.fixture(scope="module")
def admin(console: Console) -> str:
    """An administrator's key (the admin pages need one; History then shows everyone's calls)."""

    async def create() -> str:
        db = Database(console.settings.effective_database_url)
        try:
            accounts = AccountStore(db)
            await accounts.create_user("grace", "admin")
            return (await accounts.create_api_key("grace"))[1]
        finally:
            await db.aclose()

    return in_thread(create())


@pytest.fixture(scope="module")
def call_id(quiet_browser: Any, console: Console, admin: str) -> Iterator[str]:
    """One finished call with both sides' text, so History and a call's page have something to show."""
    caller = ConsolePage(quiet_browser, console).open().sign_in(admin)
    try:
        found = caller.connect()
        caller.page.fill("#text-input", "an accessible call")
        caller.page.keyboard.press("Enter")
        caller.wait_event("response.done")
        caller.page.click("#stop-button")
        caller.page.locator("#call-state[data-state=idle]").wait_for()
        yield found
    finally:
        caller.close()


def violations(page: Any) -> list[str]:
    """axe's serious and critical findings on the page as it is now, one line each."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # Evaluated through the DevTools protocol, so the page's CSP (no inline scripts) does not apply.
        page.evaluate(AXE)
    found: list[dict[str, Any]] = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations"""
    )
    return [
        f"{v['impact']} {v['id']}: {v['help']} -> {[n['target'] for n in v['nodes']][:5]}"
        for v in found
        if v["impact"] in SERIOUS
    ]


def check(console_page: ConsolePage, folder: Path, name: str) -> list[str]:
    """The findings on the page, each prefixed with the page's name; a screenshot for looking at."""
    console_page.screenshot(folder, f"a11y-{name}")
    return [f"{name}: {line}" for line in violations(console_page.page)]


@pytest.mark.parametrize("look", list(LOOKS))
def test_no_serious_accessibility_violation_on_any_page(
    look: str,
    quiet_browser: Any,
    open_page: Callable[..., ConsolePage],
    console: Console,
    admin: str,
    call_id: str,
    artifacts: Path,
) -> None:
    console_page = open_page(quiet_browser, **LOOKS[look]).open()
    page = console_page.page
    found: list[str] = []
    page.locator("#signin-form").wait_for()
    found += check(console_page, artifacts, f"{look}-signed-out")

    console_page.sign_in(admin)
    page.locator("#connect-button:not([disabled])").wait_for()
    found += check(console_page, artifacts, f"{look}-console")
    page.click("#log-toggle")
    page.locator("#event-drawer").wait_for()
    found += check(console_page, artifacts, f"{look}-event-log")
    page.keyboard.press("Escape")

    console_page.open("/history")
    page.locator(f"#history-rows tr[data-call-id='{call_id}']").wait_for()
    found += check(console_page, artifacts, f"{look}-history")

    console_page.open(f"/history/{call_id}")
    page.locator("#call-transcript .msg").first.wait_for()
    found += check(console_page, artifacts, f"{look}-call")

    for section in ADMIN_SECTIONS:
        console_page.open(f"/admin/{section}")
        page.locator("#section > *").first.wait_for()
        found += check(console_page, artifacts, f"{look}-admin-{section}")

    page.goto(console.url + "/admin/dashboard")
    page.locator("#minted > *").first.wait_for()
    found += check(console_page, artifacts, f"{look}-dashboard")

    page.goto(console.url + "/docs")
    page.locator(".opblock").first.wait_for(timeout=15_000)
    found += check(console_page, artifacts, f"{look}-docs")

    assert not found, "\n".join(found)
