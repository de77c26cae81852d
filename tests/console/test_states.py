"""States without dead ends, in Chromium on a desktop and on a 390x844 phone (screenshots in
artifacts/console/state-*.png): a page load mints nothing until Connect is wanted; a 429 counts down
live and gives Connect back; a sign-in lockout says it is about signing in; an unreachable voxgate is
named as such, retried for a bounded time, then offered a button; an empty push-to-talk press sends and
shows nothing; a disabled account is told so on its next request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import in_thread
from tests.console.conftest import Console, ConsolePage
from voxgate.adapters.sql import AccountStore, Database

pytestmark = pytest.mark.browser

LOOKS: dict[str, dict[str, Any]] = {
    "desktop": {"viewport": {"width": 1280, "height": 900}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
}
looks = pytest.mark.parametrize("look", list(LOOKS))


def refuse(status: int, code: str, retry_after: int | None = None) -> Callable[[Any], None]:
    """A route handler answering as voxgate does when it refuses (OpenAI's error shape)."""
    error = {"type": "rate_limit_error", "code": code, "message": "Slow down.", "param": None}
    headers = {"Retry-After": str(retry_after)} if retry_after else {}
    return lambda route: route.fulfill(
        status=status, headers=headers, content_type="application/json", body=json.dumps({"error": error})
    )


def advance_until(page: Any, done: Callable[[], bool], within_s: int) -> None:
    """Move the page's clock (installed with ``page.clock.install()``) on a second at a time until
    ``done()``, at most ``within_s`` seconds of page time."""
    for _ in range(within_s):
        if done():
            return
        page.clock.run_for(1000)
        page.wait_for_timeout(100)  # what the second set off (a render, a fetch) happens in real time
    assert done(), f"not done within {within_s} s of page time"


def mints(console_page: ConsolePage) -> list[str]:
    """The page's requests for a client secret so far."""
    found: list[str] = console_page.page.evaluate(
        "() => performance.getEntriesByType('resource').map(e => e.name)"
        ".filter(n => n.endsWith('/api/realtime-token'))"
    )
    return found


@looks
def test_loading_the_page_mints_nothing_until_connect_is_wanted(
    look: str, quiet_browser: Any, open_page: Callable[..., ConsolePage], artifacts: Path
) -> None:
    console_page = open_page(quiet_browser, **LOOKS[look]).open().sign_in()
    page = console_page.page
    page.locator("#connect-button").wait_for()
    page.wait_for_timeout(1500)  # long enough for any prefetch to have gone out
    assert mints(console_page) == []
    assert page.locator("#token-info").inner_text() == ""
    console_page.screenshot(artifacts, f"state-{look}-no-mint-on-load")
    # Moving to Connect with the keyboard is intent enough: the secret is fetched then, before a click.
    page.focus("#connect-button")
    page.locator("#token-info").get_by_text("Token ready").wait_for()
    assert len(mints(console_page)) == 1


@looks
def test_a_429_counts_down_and_gives_connect_back(
    look: str, quiet_browser: Any, open_page: Callable[..., ConsolePage], artifacts: Path
) -> None:
    console_page = open_page(quiet_browser, **LOOKS[look])
    page = console_page.page
    page.clock.install()  # the countdown's seconds pass on Playwright's clock, moved on by the test
    console_page.open().sign_in()
    page.route("**/api/realtime-token", refuse(429, "rate_limit_exceeded", retry_after=3))
    page.click("#connect-button")
    text = page.locator("#error .error-text")
    text.get_by_text(re.compile(r"Too many requests\. Try again in [23] s\.")).wait_for()
    assert page.locator("#connect-button").is_disabled()
    console_page.screenshot(artifacts, f"state-{look}-429-countdown")
    # The number goes down as the time passes, and nothing is left to wait for at the end.
    one = text.get_by_text("Try again in 1 s.")
    advance_until(page, one.is_visible, within_s=4)
    # Announced once (role=alert), not again at every second.
    assert page.locator("#error").get_attribute("aria-live") == "off"
    advance_until(page, page.locator("#error").is_hidden, within_s=3)
    assert page.locator("#error").get_attribute("aria-live") is None
    assert page.locator("#connect-button").is_enabled()
    page.unroute("**/api/realtime-token")
    console_page.connect()
    console_page.screenshot(artifacts, f"state-{look}-429-then-connected")
    page.click("#stop-button")


@looks
def test_a_sign_in_lockout_says_it_is_about_signing_in(
    look: str, quiet_browser: Any, open_page: Callable[..., ConsolePage], artifacts: Path
) -> None:
    console_page = open_page(quiet_browser, **LOOKS[look])
    page = console_page.page
    page.clock.install()  # the lockout's seconds pass on Playwright's clock, moved on by the test
    console_page.open()
    page.route("**/api/auth/signin", refuse(429, "rate_limit_exceeded", retry_after=2))
    page.fill("#key", "vg_" + "x" * 43)
    page.click("#signin-form button[type=submit]")
    page.locator("#error .error-text").get_by_text("Too many sign-in attempts.").wait_for()
    assert "calls are not affected" in page.locator("#error .error-help").inner_text()
    submit = page.locator("#signin-form button[type=submit]")
    assert submit.is_disabled()
    console_page.screenshot(artifacts, f"state-{look}-signin-lockout")
    advance_until(page, page.locator("#error").is_hidden, within_s=4)
    assert submit.is_enabled()
    page.unroute("**/api/auth/signin")
    console_page.sign_in()


@looks
def test_voxgate_unreachable_is_named_retried_then_offered_a_button(
    look: str, quiet_browser: Any, open_page: Callable[..., ConsolePage], console: Console, artifacts: Path
) -> None:
    console_page = open_page(quiet_browser, **LOOKS[look])
    page = console_page.page
    # The page's timers run on Playwright's clock: it flows as the wall clock does, and the test moves it
    # on over the page's waits between tries (seconds of them) instead of sitting them out.
    page.clock.install()
    asked: list[str] = []
    page.route("**/api/me", lambda route: (asked.append(route.request.url), route.abort("connectionrefused")))
    page.goto(console.url + "/")  # not open(): the page is ready only once it has stopped asking
    text = page.locator("#error .error-text")
    text.get_by_text("Can't reach the voxgate server. Trying again…").wait_for()
    assert "voice service" not in page.locator("#error").inner_text()
    console_page.screenshot(artifacts, f"state-{look}-unreachable-retrying")
    # A bounded time (about 7 s of the page's clock), then it stops asking and leaves a button.
    button = page.locator("#error .error-action")
    advance_until(page, button.is_visible, within_s=12)
    assert text.inner_text() == "Can't reach the voxgate server."
    tries = len(asked)
    assert tries == 4, asked
    page.clock.run_for(10_000)  # longer than all the waits between tries together
    page.wait_for_timeout(300)
    assert len(asked) == tries  # stopped
    console_page.screenshot(artifacts, f"state-{look}-unreachable-button")
    page.unroute("**/api/me")
    button.click()
    page.locator("#error").wait_for(state="hidden")
    page.locator("#signin-form").wait_for()
    console_page.sign_in()


@looks
def test_an_empty_push_to_talk_press_sends_and_shows_nothing(
    look: str, quiet_browser: Any, open_page: Callable[..., ConsolePage], artifacts: Path
) -> None:
    console_page = open_page(quiet_browser, **LOOKS[look]).open().sign_in()
    page = console_page.page
    console_page.connect()
    # A first exchange, whose answer must not come again.
    page.fill("#text-input", "first turn")
    page.keyboard.press("Enter")
    console_page.wait_event("response.done")
    before = [e["type"] for e in console_page.events(direction="out")]
    bubbles = page.locator("#transcript .msg").count()
    # Held for a second in silence (this browser's microphone is quiet), then released.
    button = page.locator("#ptt-button")
    box = button.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.locator("#ptt-button[aria-pressed=true]").wait_for()
    page.wait_for_timeout(1000)
    page.mouse.up()
    page.locator("#transcript .note").get_by_text("Nothing was heard, so nothing was sent.").wait_for()
    page.wait_for_timeout(1000)  # an answer, had one been asked for, would have started by now
    after = [e["type"] for e in console_page.events(direction="out")][len(before) :]
    assert "input_audio_buffer.commit" not in after and "response.create" not in after, after
    assert page.locator("#transcript .msg").count() == bubbles
    assert all(text.strip() for _, text in console_page.transcript())
    console_page.screenshot(artifacts, f"state-{look}-empty-ptt")
    page.click("#stop-button")


@looks
@pytest.mark.parametrize("how", ["disabled", "key_revoked"])
def test_a_disabled_account_or_revoked_key_is_told_on_its_next_request(
    look: str,
    how: str,
    quiet_browser: Any,
    open_page: Callable[..., ConsolePage],
    console: Console,
    artifacts: Path,
) -> None:
    name = f"soon-{how}-{look}".replace("_", "-")
    key = console.new_user(name)

    async def admin_key() -> str:
        db = Database(console.settings.effective_database_url)
        try:
            accounts = AccountStore(db)
            await accounts.create_user(f"admin-{name}", "admin")
            return (await accounts.create_api_key(f"admin-{name}"))[1]
        finally:
            await db.aclose()

    console_page = open_page(quiet_browser, **LOOKS[look]).open().sign_in(key)
    page = console_page.page
    admin = httpx.Client(
        base_url=console.url, headers={"Authorization": f"Bearer {in_thread(admin_key())}"}, timeout=10
    )
    with admin:
        if how == "disabled":
            response = admin.post(f"/api/admin/users/{name}/disable")
            said, help_words = "Your account has been disabled.", "administrator"
        else:
            (listed,) = admin.get("/api/admin/keys", params={"user": name}).json()["data"]
            response = admin.post(f"/api/admin/keys/{listed['id']}/revoke")
            said, help_words = "The API key you signed in with has been revoked.", "sign in"
    assert response.is_success, response.text
    page.click("#connect-button")
    page.locator("#error .error-text").get_by_text(said).wait_for()
    assert help_words in page.locator("#error .error-help").inner_text().lower()
    console_page.screenshot(artifacts, f"state-{look}-{how}")


# Keeps the page's data channels at hand, so a test can play a server event into the console.
CHANNELS = """
(() => {
  const create = RTCPeerConnection.prototype.createDataChannel;
  window.__channels = [];
  RTCPeerConnection.prototype.createDataChannel = function (...args) {
    const channel = create.apply(this, args);
    window.__channels.push(channel);
    return channel;
  };
})();
"""
PLAY = """(events) => {
  const channel = window.__channels.filter((c) => c.readyState === "open").at(-1);
  for (const event of events) {
    channel.dispatchEvent(new MessageEvent("message", { data: JSON.stringify(event) }));
  }
}"""


@looks
def test_an_empty_turn_leaves_no_empty_bubble(
    look: str, quiet_browser: Any, open_page: Callable[..., ConsolePage], artifacts: Path
) -> None:
    console_page = open_page(quiet_browser, script=CHANNELS, **LOOKS[look]).open().sign_in()
    page = console_page.page
    console_page.connect()
    # The server heard something (a cough) and its transcription found no words in it.
    page.evaluate(
        PLAY,
        [
            {"type": "input_audio_buffer.speech_started", "event_id": "e1", "item_id": "item_cough"},
            {"type": "input_audio_buffer.speech_stopped", "event_id": "e2", "item_id": "item_cough"},
        ],
    )
    bubble = page.locator("#transcript .msg[data-item-id=item_cough]")
    bubble.wait_for()  # shown as pending while it might still have words
    page.evaluate(
        PLAY,
        [
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "event_id": "e3",
                "item_id": "item_cough",
                "content_index": 0,
                "transcript": "  ",
            }
        ],
    )
    bubble.wait_for(state="detached")
    assert page.locator("#transcript .msg").count() == 0
    console_page.screenshot(artifacts, f"state-{look}-empty-turn")
    page.click("#stop-button")
