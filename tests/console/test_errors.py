"""Errors a person can act on, in real Chromium: a refused microphone, too many tokens, the voice
service down, a connection that cannot be made, an error event from the session, and being signed
out — never a blank page."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CANARY_KEY
from tests.console.conftest import Console, ConsolePage, serve_console
from tests.support.fake_openai import FakeOpenAIState

pytestmark = pytest.mark.browser


def test_sign_in_and_out(quiet_browser: Any, open_page: Callable[..., ConsolePage], console: Console) -> None:
    console_page = open_page(quiet_browser).open()
    page = console_page.page
    page.fill("#key", "vg_" + "x" * 43)
    page.keyboard.press("Enter")
    page.locator("#error").get_by_text("That key is not valid.").wait_for()
    assert page.locator("#console").is_hidden()

    console_page.sign_in()
    assert page.locator("#error").is_hidden()
    page.locator("#who").get_by_text("ada").wait_for()
    call_id = console_page.connect()

    # Signing out ends the call first (and tells voxgate), then forgets the token.
    page.click("#signout-button")
    page.get_by_text("Not signed in.").wait_for()
    assert page.locator("#console").is_hidden()
    assert not console.has_call(call_id)
    assert page.evaluate(
        "() => window.__vg.streams.flatMap(s => s.getTracks()).every(t => t.readyState === 'ended')"
    )
    assert page.locator("#token-info").inner_text() == ""
    assert page.evaluate("() => fetch('/api/me').then(r => r.status)") == 401


def test_a_refused_microphone_says_how_to_allow_it(
    quiet_browser: Any, open_page: Callable[..., ConsolePage], console: Console, artifacts: Path
) -> None:
    # No permission granted, and no fake UI to grant it: Chromium itself refuses getUserMedia.
    console_page = open_page(quiet_browser, mic=False).open().sign_in()
    page = console_page.page
    page.click("#connect-button")
    error = page.locator("#error")
    error.get_by_text("The microphone is blocked for this page.").wait_for()
    assert "address bar" in error.locator(".error-help").inner_text()
    assert error.locator(".error-action").inner_text() == "Try again"
    assert page.locator("#steps [data-step=mic]").get_attribute("data-state") == "failed"
    page.locator("#call-state[data-state=idle]").wait_for()
    console_page.screenshot(artifacts, "05-mic-denied")
    # The call that was set up in parallel is not left behind.
    (report,) = [r for r in console_page.reports if r["event"] == "connect"]
    assert report["outcome"] == "mic_denied" and report["error_code"] == "mic_denied"
    if report.get("call_id"):
        console_page.wait_calls_closed()
        assert not console.has_call(report["call_id"])


def test_too_many_tokens_says_when_to_try_again(
    quiet_browser: Any, open_page: Callable[..., ConsolePage], tmp_path: Path, artifacts: Path
) -> None:
    with serve_console(tmp_path, limits={"mint_per_user": "1/minute"}) as limited:
        # The first page's prefetch (the pointer over Connect) takes the only token of the minute...
        first = open_page(quiet_browser, target=limited).open().sign_in(limited.key)
        first.page.hover("#connect-button")
        first.page.locator("#token-info").get_by_text("Token ready").wait_for()
        # ...so the second page's connect is refused, and the page says for how long.
        second = open_page(quiet_browser, target=limited).open().sign_in(limited.key)
        page = second.page
        page.click("#connect-button")
        message = page.locator("#error .error-text")
        message.get_by_text("Too many requests. Try again in").wait_for()
        seconds = int(re.search(r"in (\d+) s", message.inner_text()).group(1))  # type: ignore[union-attr]
        assert 1 <= seconds <= 60
        page.locator("#call-state[data-state=idle]").wait_for()
        # A call refused at once never turned the microphone on.
        assert page.evaluate("() => window.__vg.streams.length") == 0
        second.screenshot(artifacts, "06-rate-limited")
        (report,) = [r for r in second.reports if r["event"] == "connect"]
        assert report["outcome"] == "rate_limited"


def test_voice_service_down(
    quiet_browser: Any, open_page: Callable[..., ConsolePage], tmp_path: Path
) -> None:
    # The upstream is a closed port: minting fails with 502 upstream_unreachable.
    with serve_console(
        tmp_path, upstream_url="http://127.0.0.1:9/v1", OPENAI_API_KEY="sk-test-nothing-here"
    ) as down:
        console_page = open_page(quiet_browser, target=down).open().sign_in(down.key)
        page = console_page.page
        page.click("#connect-button")
        page.locator("#error").get_by_text("The voice service is not answering.").wait_for()
        assert page.locator("#error .error-action").inner_text() == "Try again"
        assert page.locator("#steps [data-step=token]").get_attribute("data-state") == "failed"
        assert page.evaluate("() => window.__vg.streams.length") == 0


# Connectivity checks that can never succeed, as behind a firewall: the answer's ICE password is
# replaced in the page, so the browser's checks fail their integrity check at the engine (real ICE on
# both sides, nothing mocked), and Chromium gives up on its own (about 15 s).
WRONG_ICE_PASSWORD = """
(() => {
  const fetch = window.fetch.bind(window);
  window.fetch = async (url, options = {}) => {
    const response = await fetch(url, options);
    const post = String(url).includes("/realtime/calls") && options.method === "POST";
    if (!post || !response.ok) return response;
    const answer = (await response.text())
      .split("\\r\\n")
      .map((line) => (line.startsWith("a=ice-pwd:") ? "a=ice-pwd:" + "x".repeat(line.length - 10) : line))
      .join("\\r\\n");
    return new Response(answer, { status: response.status, headers: response.headers });
  };
})();
"""


def test_a_connection_that_cannot_be_made_says_what_to_check(
    quiet_browser: Any, open_page: Callable[..., ConsolePage], console: Console, artifacts: Path
) -> None:
    console_page = open_page(quiet_browser, script=WRONG_ICE_PASSWORD).open().sign_in()
    page = console_page.page
    console_page.start_connect()
    page.locator("#error").get_by_text("The audio connection could not be established.").wait_for(
        timeout=40_000
    )
    assert "firewall" in page.locator("#error").inner_text()
    assert page.locator("#error .error-action").inner_text() == "Try again"
    assert page.locator("#call-state").get_attribute("data-state") == "idle"
    assert page.locator("#steps [data-step=channel]").get_attribute("data-state") == "failed"
    console_page.screenshot(artifacts, "11-ice-failed")
    # Reported as such, and the call the engine had answered is ended, not left to time out.
    (report,) = [r for r in console_page.reports if r["event"] == "connect"]
    assert report["outcome"] == "ice_failed", report
    call_id = report["call_id"]
    deadline = time.monotonic() + 10
    while console.has_call(call_id) and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert not console.has_call(call_id)
    # Nothing is left on: no live microphone track, no open peer connection.
    assert page.evaluate(
        "() => window.__vg.streams.every((s) => s.getTracks().every((t) => t.readyState === 'ended'))"
    )
    assert (
        page.evaluate("() => window.__vg.pcs.filter((pc) => pc.connectionState !== 'closed').length") <= 1
    )  # the spare


def test_a_used_up_quota_says_so_and_does_not_retry(
    quiet_browser: Any,
    open_page: Callable[..., ConsolePage],
    upstream_url: str,
    fake_openai: FakeOpenAIState,
    tmp_path: Path,
    artifacts: Path,
) -> None:
    # OpenAI's own answer when the account behind voxgate has no credits left (the strict fake).
    fake_openai.mode = "quota_exhausted"
    with serve_console(tmp_path, upstream_url=upstream_url, OPENAI_API_KEY=CANARY_KEY) as broke:
        console_page = open_page(quiet_browser, target=broke).open().sign_in(broke.key)
        page = console_page.page
        page.click("#connect-button")
        page.locator("#error").get_by_text("The voice budget is used up.").wait_for()
        assert "Ask your administrator" in page.locator("#error").inner_text()
        assert page.locator("#error .error-action").is_hidden()  # trying again now would not help
        assert page.locator("#steps [data-step=token]").get_attribute("data-state") == "failed"
        assert page.evaluate("() => window.__vg.streams.length") == 0  # the microphone never came on
        console_page.screenshot(artifacts, "12-budget")
        (report,) = [r for r in console_page.reports if r["event"] == "connect"]
        assert report["error_code"] == "upstream_quota_exhausted"
        mints = len(fake_openai.requests)
        page.wait_for_timeout(1500)
        assert len(fake_openai.requests) == mints, "nothing is retried"


def test_session_errors_are_shown(quiet_browser: Any, open_page: Callable[..., ConsolePage]) -> None:
    console_page = open_page(quiet_browser).open().sign_in()
    page = console_page.page
    console_page.connect()
    page.fill("#text-input", "hi")
    page.click("#send-button")
    console_page.wait_event("response.done")
    # The voice cannot change once the assistant has spoken: the session answers with an error event.
    page.select_option("#voice-select", "ash")
    error = console_page.wait_event("error")
    assert error["error"]["code"] == "cannot_update_voice"
    page.locator("#error").get_by_text("The voice cannot change after the assistant has spoken").wait_for()
    # The call goes on.
    assert page.locator("#call-state").get_attribute("data-state") == "connected"


def test_an_ended_sign_in_is_noticed(
    quiet_browser: Any, open_page: Callable[..., ConsolePage], tmp_path: Path, artifacts: Path
) -> None:
    # Secrets live 10 s here, so the page refreshes its prefetched one every 5 s.
    with serve_console(tmp_path, policy={"ttl_default": 10, "ttl_max": 10}) as short:
        console_page = open_page(quiet_browser, target=short).open().sign_in(short.key)
        page = console_page.page
        page.hover("#connect-button")
        page.locator("#token-info").get_by_text("Token ready").wait_for()
        # The sign-in ends behind the page's back (expired, or signed out in another tab).
        page.context.clear_cookies()
        # The next refresh is refused: the page says so and offers to sign in again.
        page.locator("#error").get_by_text("You are not signed in, or your session has ended.").wait_for(
            timeout=10_000
        )
        assert page.locator("#signin-form").is_visible()
        assert page.locator("#console").is_hidden()
        assert page.locator("#error .error-action").inner_text() == "Sign in"
        console_page.screenshot(artifacts, "07-signed-out-by-server")
