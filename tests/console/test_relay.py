"""The console in relay mode, in real Chromium against ``voxgate serve`` on its embedded engine: the page
posts its SDP offer to voxgate, which creates the call with a key the page never sees. A spoken turn
(the fake microphone says a sentence on a loop) and a typed turn are answered; and nothing the page
received, nor any script it ran, holds an ``ek_`` secret or the engine's internal key, and it never
asked for a token.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import in_thread
from tests.console.conftest import SENTENCE, Console, ConsolePage, serve_console

pytestmark = pytest.mark.browser

EPHEMERAL_KEY = re.compile(rb"ek_[0-9a-f]{8,}")
INTERNAL_KEY = b"sk-voxgate-internal-"


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """This module's gateway: the console in relay mode (what the page is told by /api/me)."""
    with serve_console(tmp_path_factory.mktemp("relay"), console_mode="relay") as served:
        yield served


def words(text: str) -> set[str]:
    return {w.strip(".,!?\"'").lower() for w in text.split()}


class Traffic:
    """Every response the page received (its body read once the test is done) and every request."""

    def __init__(self, page: Any) -> None:
        self.responses: list[Any] = []
        self.requests: list[str] = []
        page.on("response", lambda response: self.responses.append(response))
        page.on("request", lambda request: self.requests.append(request.url))

    def bodies(self) -> list[tuple[str, int, bytes]]:
        seen = []
        for response in self.responses:
            if response.status == 204 or 300 <= response.status < 400:
                seen.append((response.url, response.status, b""))  # no body to read
                continue
            seen.append((response.url, response.status, self._body(response)))
        return seen

    @staticmethod
    def _body(response: Any) -> bytes:
        try:
            return bytes(response.body())
        except Exception:
            # A call's event stream (server-sent events) is cut off by the page when the call ends, and then
            # Chromium may not hand its body over. The call has ended by now, so asking again with the page's
            # own cookie returns the whole stream (it ends with the call's end) for the same checks.
            if response.headers.get("content-type", "").startswith("text/event-stream"):
                return bytes(response.frame.page.request.get(response.url, timeout=10_000).body())
            raise


def settle(console_page: ConsolePage, quiet_ms: int = 1500) -> None:
    """Wait until every turn the engine detected has its answer done, and no new one started for a while."""
    for _ in range(20):
        before = len(console_page.events())
        console_page.page.wait_for_timeout(quiet_ms)
        started = len(console_page.events("input_audio_buffer.speech_started"))
        stopped = len(console_page.events("input_audio_buffer.speech_stopped"))
        created = len(console_page.events("response.created"))
        done = len(console_page.events("response.done"))
        if started == stopped and created == done and len(console_page.events()) == before:
            return
    raise TimeoutError("the conversation did not settle")


def test_relay_mode_answers_spoken_and_typed_turns_and_never_shows_a_key(
    speech_browser: Any, open_page: Callable[..., ConsolePage], console: Console, artifacts: Path
) -> None:
    console_page = open_page(speech_browser)
    page = console_page.page
    traffic = Traffic(page)
    console_page.open().sign_in()
    assert page.evaluate("() => fetch('/api/me').then(r => r.json()).then(m => m.console_mode)") == "relay"
    # No token is fetched ahead: the page says calls go through voxgate, and has no token step.
    page.locator("#token-info").get_by_text("Calls go through voxgate").wait_for()
    assert page.locator("#steps [data-step=token]").is_hidden()
    page.select_option("#language-select", "en")

    call_id = console_page.connect()
    assert call_id.startswith("vgc_") and console_page.relayed == [call_id]
    states = page.eval_on_selector_all(
        "#steps li:not([hidden])", "els => els.map(e => [e.dataset.step, e.dataset.state])"
    )
    assert states == [[s, "done"] for s in ("mic", "offer", "sdp", "channel", "session")]
    # The connect was reported, with its timings and without a token step; the relay already knows
    # the call, so the report does not name it.
    (report,) = [r for r in console_page.reports if r["event"] == "connect"]
    assert report["outcome"] == "ok" and "call_id" not in report
    assert "token_ms" not in report["steps"] and report["steps"]["sdp_ms"] >= 0
    # The session was set up with the user's choices, as the relay created it.
    first = console_page.events(direction="out")[0]
    assert first["type"] == "session.update"
    assert first["session"]["audio"]["input"]["transcription"]["language"] == "en"

    # A spoken turn: heard, transcribed, answered.
    completed = console_page.wait_event(
        "conversation.item.input_audio_transcription.completed", timeout=30_000
    )
    assert len(words(completed["transcript"]) & words(SENTENCE)) >= 5, completed["transcript"]
    page.locator(f"#transcript .msg-user[data-item-id='{completed['item_id']}']").wait_for()
    page.locator("#transcript .msg-assistant").get_by_text("You said:").first.wait_for(timeout=20_000)
    console_page.wait_event("response.done", timeout=20_000)

    # A typed turn, the microphone muted so that no spoken turn cuts it off.
    page.click("#mute-button")
    settle(console_page)
    page.fill("#text-input", "typed through the relay")
    page.keyboard.press("Enter")
    page.locator("#transcript .msg-user").get_by_text("typed through the relay").wait_for()
    page.locator("#transcript .msg-assistant").get_by_text('You said: "typed through the relay"').wait_for()
    # The running cost of the call, from the ledger (the local engine's calls are simulated).
    page.locator("#call-cost").get_by_text("(simulated)").wait_for()
    assert page.locator("#call-cost").get_attribute("aria-live") == "polite"
    console_page.screenshot(artifacts, "20-relay-call")

    page.click("#stop-button")
    page.locator("#call-state[data-state=idle]").wait_for()
    console_page.wait_calls_closed()
    assert [r["outcome"] for r in console_page.reports if r["event"] == "end"] == ["user"]
    assert console_page.errors == [], console_page.errors

    # What reached the page: no secret of the upstream's, no internal key, and no token was asked for.
    assert not [url for url in traffic.requests if "/api/realtime-token" in url]
    bodies = traffic.bodies()
    scripts = {url.rsplit("/", 1)[-1] for url, _, _ in bodies if url.endswith(".js")}
    assert {"app.js", "session.js", "call.js", "api.js", "token.js"} <= scripts, scripts
    assert any(url.endswith("/api/realtime/calls") and status == 201 for url, status, _ in bodies)
    # The running cost was read from the ledger, and the hangup went to voxgate under its own id.
    assert any(url.endswith(f"/api/calls/{call_id}") and status == 200 for url, status, _ in bodies)
    assert [status for url, status, _ in bodies if url.endswith(f"/api/calls/{call_id}/hangup")] == [204]
    for url, _, body in bodies:
        assert not EPHEMERAL_KEY.search(body), url
        assert INTERNAL_KEY not in body, url
    # Nor anything the page holds now (its storage, its document).
    held = page.evaluate("() => JSON.stringify(localStorage) + document.documentElement.outerHTML")
    assert not EPHEMERAL_KEY.search(held.encode()) and INTERNAL_KEY.decode() not in held


def test_with_the_console_silent_the_sideband_alone_fills_the_ledger_and_sees_the_tab_die(
    quiet_browser: Any, open_page: Callable[..., ConsolePage], console: Console
) -> None:
    # The console's own reports and hangups never arrive: only the relay and the sideband know the call.
    console_page = open_page(quiet_browser)
    page = console_page.page
    page.route("**/api/client-metrics", lambda route: route.abort())
    page.route("**/api/calls/*/hangup", lambda route: route.abort())
    console_page.open().sign_in()
    call_id = console_page.connect()
    page.fill("#text-input", "nobody reports this call")
    page.keyboard.press("Enter")
    page.locator("#transcript .msg-assistant").get_by_text('You said: "nobody reports this call"').wait_for()
    ledger = console.app.state.services.ledger

    def detail() -> Any:
        return in_thread(ledger.call_detail(call_id))

    for _ in range(100):
        recorded = detail()
        if recorded is not None and recorded.responses:
            break
        page.wait_for_timeout(100)
    assert recorded is not None
    assert [(i.role, i.text) for i in recorded.items][:1] == [("user", "nobody reports this call")]
    assert recorded.items[-1].role == "assistant" and "nobody reports this call" in (
        recorded.items[-1].text or ""
    )
    assert recorded.responses[0].usage["output_tokens"] > 0
    assert recorded.summary.cost_usd is not None and recorded.summary.cost_usd > 0
    # The console tried to report its connect; the route dropped it before it reached voxgate.
    assert [r["event"] for r in console_page.reports] == ["connect"]

    # The tab dies mid-call, without a word to voxgate: the upstream ends the call, the ledger says so.
    upstream_id = recorded.summary.call.upstream_call_id
    console_page.close()
    for _ in range(200):
        call = in_thread(ledger.get_call(call_id))
        if call is not None and not call.live:
            break
        page.wait_for_timeout(100) if not page.is_closed() else time.sleep(0.1)
    assert call is not None and not call.live, "the end was recorded"
    assert call.end_reason == "upstream_closed"
    assert not console.has_call(upstream_id)
