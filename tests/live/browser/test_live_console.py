"""The console in Live mode, in real Chromium against ``voxgate serve`` on its embedded engine: the user
picks the "Live" profile, the page posts its offer to ``/api/live/sessions`` and waits for
``session.started``; the fake microphone's sentence shows as the user's words and the assistant's reply
shows and is heard; mute and unmute go out as ``session.input_audio.mute|unmute``; the controls GPT-Live
has no events for are hidden; an event outside the data channel's allow-list gets the documented error
and the call goes on; History shows the call with both sides and its per-second cost.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.console.conftest import SENTENCE, Console, ConsolePage, serve_console

pytestmark = pytest.mark.browser

# Keeps a handle on the page's data channels, so the test can send what the console never would.
CHANNELS = """
(() => {
  const channels = (window.__channels = []);
  const create = RTCPeerConnection.prototype.createDataChannel;
  RTCPeerConnection.prototype.createDataChannel = function (...args) {
    const channel = create.apply(this, args);
    channels.push(channel);
    return channel;
  };
})();
"""
LOUD = 0.02
# Brings the session's end near: session.started says the session expires 12 s after it started (the
# engine's cap is GPT-Live's two hours), as the console's own listener sees it.
SOON_EXPIRING = """
(() => {
  const add = RTCDataChannel.prototype.addEventListener;
  RTCDataChannel.prototype.addEventListener = function (type, listener, options) {
    if (type !== "message") return add.call(this, type, listener, options);
    return add.call(this, type, (event) => {
      const data = JSON.parse(event.data);
      if (data.type !== "session.started") return listener(event);
      data.session.expires_at = Math.floor(Date.now() / 1000) + 12;
      listener(new MessageEvent("message", { data: JSON.stringify(data) }));
    }, options);
  };
})();
"""


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """This module's gateway: relay mode, GPT-Live enabled (the default policy)."""
    with serve_console(tmp_path_factory.mktemp("live"), console_mode="relay") as served:
        yield served


def words(text: str) -> set[str]:
    return {w.strip(".,!?\"'").lower() for w in text.split()}


def api_get(page: Any, path: str) -> Any:
    body = page.evaluate("async (path) => (await fetch(path)).text()", path)
    return json.loads(body)


def test_a_live_call_in_the_console_speaks_mutes_refuses_and_lands_in_history(
    speech_browser: Any, open_page: Callable[..., ConsolePage], console: Console, artifacts: Path
) -> None:
    console_page = open_page(speech_browser, script=CHANNELS).open().sign_in()
    page = console_page.page
    me = api_get(page, "/api/me")
    assert [p["id"] for p in me["profiles"]] == ["realtime", "live"]
    live = me["profiles"][1]
    assert live["label"] == "Live gpt-live-1.1" and live["usd_per_minute"] == "0.05"
    page.select_option("#profile-select", "live")
    # What GPT-Live has no events for is not offered: no commit (push-to-talk), no cancel, no typed turn.
    for hidden in ("#ptt-button", "#interrupt-button", "#text-form", "#language-select"):
        assert page.locator(hidden).is_hidden(), hidden
    created: list[Any] = []
    page.on("response", lambda r: created.append(r) if r.url.endswith("/api/live/sessions") else None)
    page.click("#connect-button")
    page.locator("#call-state[data-state=connected]").wait_for(timeout=20_000)
    started = console_page.wait_event("session.started")
    assert started["session"]["model"] == "gpt-live-1.1"
    assert created and created[-1].status == 201
    call_id = created[-1].json()["session"]["id"]
    assert call_id.startswith("vgc_")
    assert not console_page.events("session.update", "out"), "a Live session is never updated by the page"
    page.locator("#call-info").get_by_text("$0.0500 per minute").wait_for()

    # A spoken turn: the user's words and the assistant's, both shown; the reply is heard.
    console_page.start_probe()
    heard = console_page.wait_event("session.input_transcript.delta", timeout=30_000)
    said = console_page.wait_event("session.output_transcript.delta", timeout=30_000)
    page.wait_for_timeout(1500)
    transcript = console_page.transcript()
    users = " ".join(text for role, text in transcript if role == "user")
    replies = " ".join(text for role, text in transcript if role == "assistant")
    assert len(words(users) & words(SENTENCE)) >= 4, transcript
    assert replies.strip(), transcript
    assert heard["_t"] <= said["_t"]
    assert console_page.loudness(said["_t"]) > LOUD, "the reply was heard"
    console_page.screenshot(artifacts, "live-01-turn")

    # Mute and unmute are the protocol's own events, acknowledged.
    page.click("#mute-button")
    muted = console_page.wait_event("session.input_audio.muted")
    assert console_page.events("session.input_audio.mute", "out")
    page.click("#mute-button")
    console_page.wait_event("session.input_audio.unmuted")
    assert muted["client_event_id"] == console_page.events("session.input_audio.mute", "out")[-1]["event_id"]

    # An event the browser may not send: the documented error, and the call goes on.
    page.evaluate(
        "() => window.__channels.filter(c => c.readyState === 'open').at(-1)"
        ".send(JSON.stringify({type: 'session.close', event_id: 'c_forbidden'}))"
    )
    refused = console_page.wait_event("error")
    assert refused["error"]["code"] == "forbidden" and refused["client_event_id"] == "c_forbidden"
    before = len(console_page.events("session.output_transcript.delta"))
    console_page.wait_event("session.output_transcript.delta", count=before + 1, timeout=30_000)
    assert page.locator("#call-state").get_attribute("data-state") == "connected"

    page.click("#stop-button")
    page.locator("#call-state[data-state=idle]").wait_for()
    console_page.poll(
        "(id) => fetch(`/api/calls/${id}`).then(r => r.json())"
        ".then(c => !c.live && c.responses.some(r => r.status === 'completed'))",
        call_id,
        timeout=15_000,
    )
    call = api_get(page, f"/api/calls/{call_id}")
    assert call["end_reason"] == "hangup"
    [usage] = call["responses"]
    seconds = max(15, usage["usage"]["seconds"])
    assert Decimal(call["cost_usd"]) == (Decimal(seconds) * Decimal("0.05") / 60).quantize(Decimal("1e-10"))

    # History: the call with both sides' words and its per-second cost.
    page.click("#nav a[data-view=history]")
    row = page.locator(f"#history-rows tr[data-call-id='{call_id}']")
    row.wait_for()
    shown = f"${Decimal(call['cost_usd']).quantize(Decimal('0.0001'), ROUND_HALF_UP)} (simulated)"
    assert row.locator("td").all_inner_texts()[2] == shown
    row.locator("a").click()
    page.locator("#call-body").wait_for()
    roles = page.eval_on_selector_all("#call-transcript .msg", "els => els.map(e => e.dataset.role)")
    assert "user" in roles and "assistant" in roles, roles
    facts = dict(
        zip(
            page.locator("#call-facts dt").all_inner_texts(),
            page.locator("#call-facts dd").all_inner_texts(),
            strict=True,
        )
    )
    assert facts["API"] == "GPT-Live" and facts["Model"] == "gpt-live-1.1", facts
    # Its usage is session time, not tokens.
    usage_shown = dict(
        zip(
            page.locator("#call-usage dt").all_inner_texts(),
            page.locator("#call-usage dd").all_inner_texts(),
            strict=True,
        )
    )
    assert usage_shown["Session time"] == f"{usage['usage']['seconds']:g} s", usage_shown
    assert "Input tokens" not in usage_shown and usage_shown["Cost"] == shown
    console_page.screenshot(artifacts, "live-02-history")
    assert not console_page.errors, console_page.errors


def test_a_live_call_is_renewed_before_its_cap(
    quiet_browser: Any, open_page: Callable[..., ConsolePage], console: Console
) -> None:
    console_page = open_page(quiet_browser, script=SOON_EXPIRING)
    page = console_page.page
    created: list[str] = []

    def on_response(response: Any) -> None:
        if response.url.endswith("/api/live/sessions") and response.status == 201:
            created.append(response.json()["session"]["id"])

    page.on("response", on_response)
    console_page.open("/?renew_before=5").sign_in()
    page.select_option("#profile-select", "live")
    page.click("#connect-button")
    page.locator("#call-state[data-state=connected]").wait_for(timeout=20_000)
    # Five seconds before the (shortened) cap: a new session first, then the old one ends.
    page.locator("#transcript .note").get_by_text("Session renewed").wait_for(timeout=20_000)
    assert len(created) == 2, created
    assert page.locator("#call-state").get_attribute("data-state") == "connected"
    console_page.poll(
        "(id) => fetch(`/api/calls/${id}`).then(r => r.json()).then(c => !c.live)", created[0], timeout=10_000
    )
    first = api_get(page, f"/api/calls/{created[0]}")
    second = api_get(page, f"/api/calls/{created[1]}")
    assert first["end_reason"] == "hangup" and second["live"] is True
    page.click("#stop-button")
    page.locator("#call-state[data-state=idle]").wait_for()
    assert not console_page.errors, console_page.errors


@pytest.fixture
def short_calls(tmp_path: Path) -> Iterator[Console]:
    with serve_console(tmp_path, console_mode="relay", calls={"max_minutes": 0.1}) as served:
        yield served


def test_a_live_call_at_its_maximum_length_is_warned_aloud_then_ended_with_its_reason(
    quiet_browser: Any, short_calls: Console
) -> None:
    key = short_calls.new_user("long-live-caller")
    console_page = ConsolePage(quiet_browser, short_calls)
    try:
        live_call_ended_at_its_maximum_length(console_page.open().sign_in(key))
    finally:
        console_page.close()


def live_call_ended_at_its_maximum_length(console_page: ConsolePage) -> None:
    page = console_page.page
    page.select_option("#profile-select", "live")
    page.click("#connect-button")
    page.locator("#call-state[data-state=connected]").wait_for(timeout=20_000)
    # voxgate warns through the sideband with commentary, which the model says: the page hears it.
    page.locator("#call-warning").wait_for(state="visible", timeout=10_000)
    console_page.poll(
        "() => window.__vg.events.map(e => e.event).filter(e => e.type === 'session.output_transcript.delta')"
        ".map(e => e.delta).join('').includes('maximum length')"
    )
    # Then voxgate closes the session; the page says why, and does not reconnect.
    closed = console_page.wait_event("session.closed", timeout=15_000)
    assert closed["reason"] == "close_requested"
    error = page.locator("#error .error-text")
    error.wait_for(state="visible", timeout=10_000)
    assert error.inner_text() == "The call ended: it reached the maximum length of 0.1 minutes."
    page.locator("#call-state[data-state=idle]").wait_for()
    page.wait_for_timeout(2000)
    assert page.locator("#call-state").get_attribute("data-state") == "idle"
    assert len(console_page.events("session.started")) == 1, "the console reconnected after voxgate ended it"
