"""The console tests that do not depend on the protocol, run against both profiles a user may pick
("realtime": GA Realtime through voxgate's relay; "live": GPT-Live through ``/api/live/sessions``), in
real Chromium against ``voxgate serve`` on its embedded engine: connect and hang up leave nothing behind
and the ledger says who ended the call; a spoken turn shows both sides' words, the reply is heard, and
the call lands in History with both sides; mute keeps the user's words from the assistant until unmute;
a connect voxgate refuses says why and starts nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.budgets.browser.test_console_budget import set_budget, user_id
from tests.console.conftest import SENTENCE, Console, ConsolePage, serve_console

pytestmark = pytest.mark.browser

PROTOCOLS = ["realtime", "live"]
CREATE = {"realtime": "/api/realtime/calls", "live": "/api/live/sessions"}
LOUD = 0.01


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """One relay-mode gateway offering both profiles, with a daily budget per user (for the refusal)."""
    with serve_console(
        tmp_path_factory.mktemp("both"), console_mode="relay", budgets={"user_usd_per_day": "1"}
    ) as served:
        yield served


def words(text: str) -> set[str]:
    return {w.strip(".,!?\"'").lower() for w in text.split()}


def api_get(page: Any, path: str) -> Any:
    return page.evaluate("(path) => fetch(path).then(r => r.json())", path)


class Calls:
    """The calls the page asked voxgate for with `protocol`: each answer's status and voxgate's call id."""

    def __init__(self, page: Any, protocol: str) -> None:
        self.answers: list[tuple[int, str | None]] = []
        self.protocol = protocol
        page.on("response", self._response)

    def _response(self, response: Any) -> None:
        if not response.url.endswith(CREATE[self.protocol]) or response.request.method != "POST":
            return
        call_id = None
        if response.status == 201 and self.protocol == "live":
            call_id = response.json()["session"]["id"]
        elif response.status == 201:
            call_id = response.headers["location"].rsplit("/", 1)[-1]
        self.answers.append((response.status, call_id))

    @property
    def last_id(self) -> str:
        ids = [call_id for _, call_id in self.answers if call_id]
        assert ids, self.answers
        return ids[-1]


def pick(console_page: ConsolePage, protocol: str) -> Calls:
    """Choose the profile as a user does, and watch the calls it makes."""
    page = console_page.page
    page.select_option("#profile-select", protocol)
    if protocol == "realtime":
        page.select_option("#language-select", "en")  # the fake microphone speaks English
    return Calls(page, protocol)


def connect(console_page: ConsolePage, calls: Calls) -> str:
    console_page.page.click("#connect-button")
    console_page.page.locator("#call-state[data-state=connected]").wait_for(timeout=20_000)
    return calls.last_id


def hang_up(console_page: ConsolePage, call_id: str) -> dict[str, Any]:
    """Stop the call; the ledger's record of it once voxgate has closed it."""
    console_page.page.click("#stop-button")
    console_page.page.locator("#call-state[data-state=idle]").wait_for()
    console_page.poll("(id) => fetch(`/api/calls/${id}`).then(r => r.json()).then(c => !c.live)", call_id)
    call: dict[str, Any] = api_get(console_page.page, f"/api/calls/{call_id}")
    return call


def spoken(console_page: ConsolePage) -> tuple[str, str]:
    """Everything the user and the assistant said, as the transcript shows it."""
    shown = console_page.transcript()
    user = " ".join(text for role, text in shown if role == "user")
    assistant = " ".join(text for role, text in shown if role == "assistant")
    return user, assistant


def heard_the_sentence(console_page: ConsolePage) -> Any:
    user, assistant = spoken(console_page)
    return len(words(user) & words(SENTENCE)) >= 4 and assistant.strip()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_connect_and_hang_up_leave_nothing_behind(
    protocol: str, quiet_browser: Any, open_page: Callable[..., ConsolePage]
) -> None:
    console_page = open_page(quiet_browser).open().sign_in()
    page = console_page.page
    calls = pick(console_page, protocol)
    call_id = connect(console_page, calls)
    assert call_id.startswith("vgc_")
    assert page.evaluate("() => window.__vg.streams[0].getTracks().every(t => t.readyState === 'live')")
    call = hang_up(console_page, call_id)
    assert call["end_reason"] == "hangup", call
    cleanup = page.evaluate(
        """() => ({
          tracks: window.__vg.streams.flatMap(s => s.getTracks()).map(t => t.readyState),
          contexts: window.__vg.contexts.map(c => c.state),
          remote: document.getElementById("remote-audio").srcObject,
        })"""
    )
    assert set(cleanup["tracks"]) == {"ended"} and set(cleanup["contexts"]) == {"closed"}, cleanup
    assert cleanup["remote"] is None
    console_page.wait_calls_closed(timeout=3000)
    assert [status for status, _ in calls.answers] == [201]
    assert not console_page.errors, console_page.errors


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_spoken_turn_shows_both_sides_is_heard_and_lands_in_history(
    protocol: str, speech_browser: Any, open_page: Callable[..., ConsolePage], artifacts: Path
) -> None:
    console_page = open_page(speech_browser).open().sign_in()
    page = console_page.page
    calls = pick(console_page, protocol)
    call_id = connect(console_page, calls)
    console_page.start_probe()
    since = console_page.now()
    console_page.poll(
        "() => [...document.querySelectorAll('#transcript .msg-assistant .text')]"
        ".some(e => e.textContent.trim())",
        timeout=40_000,
    )
    page.wait_for_timeout(1500)  # the reply's audio plays a moment
    assert heard_the_sentence(console_page), console_page.transcript()
    assert console_page.loudness(since) > LOUD, "the reply was heard"
    console_page.screenshot(artifacts, f"both-{protocol}-turn")
    page.click("#mute-button")  # no further turn while the call ends
    call = hang_up(console_page, call_id)
    assert call["end_reason"] == "hangup" and Decimal(call["cost_usd"]) > 0, call

    page.click("#nav a[data-view=history]")
    row = page.locator(f"#history-rows tr[data-call-id='{call_id}']")
    row.wait_for()
    row.locator("a").click()
    page.locator("#call-body").wait_for()
    shown = page.eval_on_selector_all(
        "#call-transcript .msg", "els => els.map(e => [e.dataset.role, e.textContent])"
    )
    user = " ".join(text for role, text in shown if role == "user")
    assert len(words(user) & words(SENTENCE)) >= 4, shown
    assert any(role == "assistant" and text.strip() for role, text in shown), shown
    assert not console_page.errors, console_page.errors


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_mute_keeps_the_user_s_words_from_the_assistant_until_unmuted(
    protocol: str, speech_browser: Any, open_page: Callable[..., ConsolePage]
) -> None:
    console_page = open_page(speech_browser).open().sign_in()
    page = console_page.page
    calls = pick(console_page, protocol)
    call_id = connect(console_page, calls)
    console_page.poll(
        "() => [...document.querySelectorAll('#transcript .msg-user .text')].some(e => e.textContent.trim())",
        timeout=40_000,
    )
    page.click("#mute-button")
    assert page.locator("#mute-button").get_attribute("aria-pressed") == "true"
    page.locator("#mute-button").get_by_text("Unmute").wait_for()
    page.wait_for_timeout(2500)  # the turn under way when muted may still finish
    before, _ = spoken(console_page)
    page.wait_for_timeout(6000)  # longer than one round of the sentence
    after, _ = spoken(console_page)
    assert after == before, "the user's words reached the assistant while muted"
    assert page.locator("#mic-meter").get_attribute("aria-valuenow") == "0"

    page.click("#mute-button")
    assert page.locator("#mute-button").get_attribute("aria-pressed") == "false"
    console_page.poll(
        "(before) => [...document.querySelectorAll('#transcript .msg-user .text')]"
        ".map(e => e.textContent).join(' ').length > before.length",
        before,
        timeout=30_000,
    )
    hang_up(console_page, call_id)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_refused_connect_says_why_and_starts_nothing(
    protocol: str, quiet_browser: Any, open_page: Callable[..., ConsolePage], console: Console
) -> None:
    name = f"broke-{protocol}"
    key = console.new_user(name)
    set_budget(console, user_id(console, name), Decimal(0))
    console_page = open_page(quiet_browser).open().sign_in(key)
    page = console_page.page
    calls = pick(console_page, protocol)
    page.click("#connect-button")
    page.get_by_text("Your daily budget is used up; it resets at 00:00 UTC.").wait_for(timeout=10_000)
    assert [status for status, _ in calls.answers] == [429]
    assert page.locator("#call-state").get_attribute("data-state") == "idle"
    page.wait_for_timeout(1500)
    assert [status for status, _ in calls.answers] == [429], "a refused connect is not retried"
    assert page.evaluate("() => window.__vg.pcs.every(pc => !pc.remoteDescription)")
    assert all("429" in e for e in console_page.errors), console_page.errors
