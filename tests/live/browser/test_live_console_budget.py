"""A budget ending a GPT-Live call in the console, in real Chromium against ``voxgate serve`` on its
embedded engine (relay mode, the "Live" profile): with the creation charge at 95 % of the user's daily
budget, voxgate warns, then closes the session at the budget; the page says why and when the budget
resets, does not reconnect, and the next Connect is refused with the same words.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.budgets.browser.test_console_budget import call_cost, set_budget, user_id, wait_for
from tests.console.conftest import ENGINE_KEY, Console, ConsolePage, serve_console

pytestmark = pytest.mark.browser

ENDED = "The call ended: daily budget used up, resets at 00:00 UTC."
REFUSED = "Your daily budget is used up; it resets at 00:00 UTC."


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """A gateway with a daily budget per user; GPT-Live is on by default. The engine reports a Live
    session's usage every second rather than every 15: the call's cost passes its budget one second after
    the 15 s creation charge is used up, not at the next 15 s mark (the test waited ~14 s longer)."""
    with serve_console(
        tmp_path_factory.mktemp("live-budget"),
        console_mode="relay",
        budgets={"user_usd_per_day": "1"},
        engine={"tts": "espeak", "api_keys": [ENGINE_KEY], "live_usage_interval_s": 1.0},
    ) as served:
        yield served


def test_a_live_call_is_warned_then_ended_at_the_budget_and_the_next_connect_refused(
    quiet_browser: Any, console: Console, artifacts: Path
) -> None:
    name = "live-tiny-budget"
    key = console.new_user(name)
    console_page = ConsolePage(quiet_browser, console)
    try:
        page = console_page.open().sign_in(key).page
        created: list[Any] = []
        page.on("response", lambda r: created.append(r) if r.url.endswith("/api/live/sessions") else None)
        page.select_option("#profile-select", "live")
        page.click("#connect-button")
        page.locator("#call-state[data-state=connected]").wait_for(timeout=20_000)
        console_page.wait_event("session.started")
        assert [r.status for r in created] == [201]
        call_id = created[0].json()["session"]["id"]
        # GPT-Live charges 15 s at creation: make that 95 % of the day's budget.
        spent = wait_for(lambda: call_cost(console, call_id), page)
        assert spent == Decimal("0.0125")
        set_budget(console, user_id(console, name), spent / Decimal("0.95"))

        warning = page.locator("#call-warning")
        warning.wait_for(state="visible", timeout=10_000)
        assert warning.inner_text() == (
            "Warning: your daily budget is nearly used up; the call will end when it is."
        )
        console_page.screenshot(artifacts, "live-budget-01-warning")

        # Session time runs on; at the budget voxgate closes the session and the page says why.
        closed = console_page.wait_event("session.closed", timeout=40_000)
        assert closed["reason"] == "close_requested"
        error = page.locator("#error .error-text")
        error.wait_for(state="visible", timeout=10_000)
        assert error.inner_text() == ENDED
        page.locator("#call-state[data-state=idle]").wait_for()
        console_page.screenshot(artifacts, "live-budget-02-ended")
        # No reconnect: no new session asked for, none started.
        page.wait_for_timeout(2000)
        assert page.locator("#call-state").get_attribute("data-state") == "idle"
        assert len(created) == 1 and len(console_page.events("session.started")) == 1
        call = page.evaluate("(id) => fetch(`/api/calls/${id}`).then(r => r.json())", call_id)
        assert call["end_reason"] == "budget_exhausted", call

        # The next Connect is refused by voxgate before any session is made, with the same words.
        page.click("#connect-button")
        page.get_by_text(REFUSED).wait_for(timeout=10_000)
        assert [r.status for r in created] == [201, 429]
        assert created[1].json()["error"]["code"] == "budget_exhausted"
        assert page.locator("#call-state").get_attribute("data-state") == "idle"
        console_page.screenshot(artifacts, "live-budget-03-refused")
        assert all("429" in e for e in console_page.errors), console_page.errors
    finally:
        console_page.close()
