"""A call from the console in real Chromium against ``voxgate serve`` on its embedded engine: connect
step by step, a text turn that is heard and shown, interrupt, hang up with nothing left behind, a
server-side drop that reconnects with the conversation replayed, and renewal before the time cap.

The fake microphone is silent here, so the engine's turn detection never starts a turn by itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.console.conftest import Console, ConsolePage, serve_console

pytestmark = pytest.mark.browser

LOUD = 0.01  # RMS of clearly audible speech from espeak (silence measures ~0)


def wait_until(page: Any, check: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    """Poll `check`, letting Playwright deliver the page's events meanwhile."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what or check}")
        page.wait_for_timeout(50)
    return value


def test_connect_shows_each_step_and_reports_it(
    quiet_browser: Any, open_page: Callable[..., ConsolePage], console: Console, artifacts: Path
) -> None:
    console_page = open_page(quiet_browser).open()
    page = console_page.page
    page.get_by_text("Not signed in.").wait_for()
    console_page.screenshot(artifacts, "01-signed-out")
    console_page.sign_in()
    # The secret is fetched on intent (the pointer over Connect), so that it is there before the click.
    # The embedded engine says what it is rather than naming a model it does not run.
    page.hover("#connect-button")
    page.locator("#token-info").get_by_text("Token ready for local engine, demo assistant").wait_for()
    page.select_option("#voice-select", "cedar")
    page.select_option("#language-select", "fr")

    call_id = console_page.connect()
    assert console_page.console.has_call(call_id)
    # The summary line says the connect is done; opened, every step shows as done, with its time.
    page.locator("#steps-summary").get_by_text("Connected in").wait_for()
    page.click("#call-details summary")
    states = page.eval_on_selector_all("#steps li", "els => els.map(e => [e.dataset.step, e.dataset.state])")
    assert states == [[s, "done"] for s in ("token", "mic", "offer", "sdp", "channel", "session")]
    assert all(page.locator("#steps .step-time").all_inner_texts()), "each step shows its duration"
    page.locator("#call-info").get_by_text(call_id).wait_for()
    console_page.screenshot(artifacts, "02-connected")

    # The microphone was asked for as the issue says, and the pc had its channel before the offer.
    (constraints,) = page.evaluate("() => window.__vg.constraints")
    assert constraints["audio"] == {
        "channelCount": 1,
        "sampleRate": 24000,
        "echoCancellation": True,
        "noiseSuppression": True,
        "autoGainControl": True,
    }
    # The first event on the channel is a GA session.update with only what the user chose; the
    # transcription model is the one the minted session named.
    first = console_page.events(direction="out")[0]
    assert first["type"] == "session.update"
    assert first["session"] == {
        "type": "realtime",
        "audio": {
            "output": {"voice": "cedar"},
            "input": {"transcription": {"model": "gpt-realtime-whisper", "language": "fr"}},
        },
    }
    updated = console_page.wait_event("session.updated")
    assert updated["session"]["audio"]["output"]["voice"] == "cedar"
    assert updated["session"]["audio"]["input"]["transcription"]["language"] == "fr"

    # The connect was reported with the call id from Location and the step timings.
    (report,) = [r for r in console_page.reports if r["event"] == "connect"]
    assert report["outcome"] == "ok"
    assert report["call_id"] == call_id
    for step in ("token", "mic", "offer", "sdp", "channel", "session"):
        assert report["steps"][f"{step}_ms"] >= 0
    # The prefetched secret made the token step (nearly) free.
    assert report["steps"]["token_ms"] < 50, report["steps"]
    # Connected once the session is set up and the microphone is on the call, whichever is last.
    steps = report["steps"]
    assert steps["total_ms"] == max(steps["session_end_ms"], steps["mic_end_ms"])
    # The microphone was asked for once the offer was out, not before.
    assert steps["mic_end_ms"] - steps["mic_ms"] >= steps["sdp_end_ms"] - steps["sdp_ms"]
    assert console_page.errors == [], console_page.errors


# Holds the SDP answer in the page for a while, as a far-away upstream would.
SLOW_ANSWER = """
(() => {
  const fetch = window.fetch.bind(window);
  window.fetch = async (url, options = {}) => {
    if (String(url).includes("/realtime/calls") && options.method === "POST") {
      await new Promise((resolve) => setTimeout(resolve, 1500));
    }
    return fetch(url, options);
  };
})();
"""


def test_a_slow_connect_shows_its_steps_as_they_happen(
    quiet_browser: Any, open_page: Callable[..., ConsolePage], artifacts: Path
) -> None:
    """The page holds its frames during a connect (see app.js), but only briefly: a connect that takes
    long shows "connecting" and which steps are done, under way and still to come."""
    console_page = open_page(quiet_browser, script=SLOW_ANSWER).open().sign_in()
    page = console_page.page
    page.click("#call-details summary")  # the steps are folded under their summary line
    console_page.start_connect()
    page.wait_for_selector("#steps [data-step=sdp][data-state=active]", timeout=1000)
    # Folded, the summary line alone says which step is under way.
    page.locator("#steps-summary").get_by_text("Connecting: Call…").wait_for(timeout=1000)
    assert page.locator("#call-state").get_attribute("data-state") == "connecting"
    assert page.locator("#call-state").inner_text().lower().startswith("connecting")
    # The microphone is asked for 60 ms after the offer went out when the answer takes longer.
    page.wait_for_selector("#steps [data-step=mic][data-state=done]", timeout=1000)
    states = page.eval_on_selector_all("#steps li", "els => els.map(e => [e.dataset.step, e.dataset.state])")
    assert dict(states) == {
        "token": "done",
        "mic": "done",
        "offer": "done",
        "sdp": "active",
        "channel": "pending",
        "session": "pending",
    }
    assert page.locator("#stop-button").is_visible()
    console_page.screenshot(artifacts, "02b-connecting")
    page.wait_for_selector("#call-state[data-state=connected]", timeout=10_000)
    assert console_page.errors == [], console_page.errors


def test_text_round_trip_is_shown_and_heard(
    quiet_browser: Any, open_page: Callable[..., ConsolePage], artifacts: Path
) -> None:
    console_page = open_page(quiet_browser).open().sign_in()
    page = console_page.page
    console_page.connect()
    console_page.start_probe()
    page.wait_for_timeout(300)
    quiet = console_page.loudness()

    page.fill("#text-input", "hello from the browser")
    page.keyboard.press("Enter")
    # The user's words and the assistant's streamed reply are in the transcript...
    page.locator("#transcript .msg-user").get_by_text("hello from the browser").wait_for()
    page.locator("#transcript .msg-assistant").get_by_text('You said: "hello from the browser"').wait_for()
    sent = [e["type"] for e in console_page.events(direction="out")]
    assert sent[-2:] == ["conversation.item.create", "response.create"]
    # ...and it was heard: the remote track carried speech while the engine played it.
    started = console_page.wait_event("output_audio_buffer.started")
    page.locator("#assistant-speaking[data-active=true]").wait_for()
    # The page's own level meter moves with it.
    console_page.poll(
        "() => Number(document.getElementById('assistant-meter').getAttribute('aria-valuenow')) > 30"
    )
    stopped = console_page.wait_event("output_audio_buffer.stopped", timeout=30_000)
    page.locator("#assistant-speaking[data-active=false]").wait_for(state="attached")
    assert quiet < LOUD / 4, quiet
    assert console_page.loudness(started["_t"], stopped["_t"] + 500) > LOUD
    assert page.locator("#transcript").get_attribute("role") == "log"
    console_page.screenshot(artifacts, "03-text-round-trip")


def test_interrupt_stops_the_reply(quiet_browser: Any, open_page: Callable[..., ConsolePage]) -> None:
    console_page = open_page(quiet_browser).open().sign_in()
    page = console_page.page
    console_page.connect()
    console_page.start_probe()
    long_text = "please read this rather long sentence back to me slowly, word by word, " * 3
    page.fill("#text-input", long_text)
    page.click("#send-button")
    console_page.wait_event("output_audio_buffer.started")
    page.wait_for_timeout(800)
    assert console_page.loudness(console_page.now() - 600) > LOUD

    page.click("#interrupt-button")
    done = console_page.wait_event("response.done")
    assert done["response"]["status"] == "cancelled"
    cleared = console_page.wait_event("output_audio_buffer.cleared")
    sent = [e["type"] for e in console_page.events(direction="out")]
    assert sent[-2:] == ["response.cancel", "output_audio_buffer.clear"]
    page.locator("#transcript .msg-assistant .badge[data-state=interrupted]").wait_for()
    # Nothing more is heard after the clear.
    page.wait_for_timeout(1200)
    assert console_page.loudness(cleared["_t"] + 400) < LOUD / 4
    assert not console_page.events("error"), console_page.events("error")

    # A message typed while a reply is still in flight cuts it off, then gets its own answer.
    page.fill("#text-input", long_text)
    page.click("#send-button")
    console_page.wait_event("output_audio_buffer.started", count=2)
    page.fill("#text-input", "second thought")
    page.click("#send-button")
    page.locator("#transcript .msg-assistant").get_by_text('You said: "second thought"').wait_for()
    assert not console_page.events("error"), console_page.events("error")


def test_hang_up_leaves_nothing_behind(
    quiet_browser: Any, open_page: Callable[..., ConsolePage], console: Console
) -> None:
    console_page = open_page(quiet_browser).open().sign_in()
    page = console_page.page
    hangups: list[int] = []
    page.on("response", lambda r: hangups.append(r.status) if r.url.endswith("/hangup") else None)
    call_id = console_page.connect()
    assert page.evaluate("() => window.__vg.streams[0].getTracks().every(t => t.readyState === 'live')")

    page.click("#stop-button")
    page.locator("#call-state[data-state=idle]").wait_for()
    # At once: the microphone is off, the assistant silent, the AudioContext closed.
    cleanup = page.evaluate(
        """() => ({
          tracks: window.__vg.streams.flatMap(s => s.getTracks()).map(t => t.readyState),
          contexts: window.__vg.contexts.map(c => c.state),
          remote: document.getElementById("remote-audio").srcObject,
        })"""
    )
    assert cleanup["tracks"] and set(cleanup["tracks"]) == {"ended"}, cleanup
    assert cleanup["contexts"] and set(cleanup["contexts"]) == {"closed"}, cleanup
    assert cleanup["remote"] is None
    # voxgate is told (the engine sees the call end), then the peer connection closes.
    wait_until(page, lambda: hangups, what="the hangup request")
    assert hangups == [204], hangups
    assert not console.has_call(call_id)
    console_page.wait_calls_closed(timeout=3000)
    assert [r["outcome"] for r in console_page.reports if r["event"] == "end"] == ["user"]
    page.locator("#connect-button").wait_for()


def test_leaving_the_page_ends_the_call(
    quiet_browser: Any, open_page: Callable[..., ConsolePage], console: Console
) -> None:
    console_page = open_page(quiet_browser).open().sign_in()
    call_id = console_page.connect()
    console_page.page.goto("about:blank")
    wait_until(
        console_page.page,
        lambda: not console.has_call(call_id),
        timeout=5,
        what="the call to end on page hide",
    )


def test_a_dropped_call_reconnects_and_keeps_the_conversation(
    quiet_browser: Any, open_page: Callable[..., ConsolePage], console: Console, artifacts: Path
) -> None:
    console_page = open_page(quiet_browser).open().sign_in()
    page = console_page.page
    first_call = console_page.connect()
    page.fill("#text-input", "remember the word pineapple")
    page.click("#send-button")
    page.locator("#transcript .msg-assistant").get_by_text("pineapple").wait_for()
    console_page.wait_event("response.done")
    before = {item["id"]: item for item in console.items(first_call)}

    console.hang_up_at_engine(first_call)  # as if OpenAI had dropped it
    page.locator("#transcript .note").get_by_text("reconnecting").wait_for(timeout=5000)
    page.locator("#transcript .note").get_by_text("Connection resumed").wait_for(timeout=15_000)
    page.locator("#call-state[data-state=connected]").wait_for()
    second_call = console_page.call_id()
    assert second_call != first_call
    (reconnect,) = [r for r in console_page.reports if r["event"] == "reconnect"]
    assert reconnect["outcome"] == "ok" and reconnect["attempt"] == 1

    # The new session was given the conversation: both earlier items, with their texts.
    new_pc = console_page.events("session.created")[-1]["_pc"]
    replayed = [e for e in console_page.events("conversation.item.added") if e["_pc"] == new_pc]
    assert [e["item"]["id"] for e in replayed] == list(before)
    after = console.items(second_call)
    assert [item["role"] for item in after] == ["user", "assistant"]
    assert after[0]["content"][0]["text"] == "remember the word pineapple"
    assert "pineapple" in after[1]["content"][0]["text"]

    # The conversation goes on in the new call, after the earlier context.
    page.fill("#text-input", "what was the word")
    page.click("#send-button")
    page.locator("#transcript .msg-assistant").get_by_text('You said: "what was the word"').wait_for()
    users = [item["content"][0]["text"] for item in console.items(second_call) if item["role"] == "user"]
    assert users == ["remember the word pineapple", "what was the word"]
    # The transcript shows each message once.
    assert [text for role, text in console_page.transcript() if role == "user"] == [
        "remember the word pineapple",
        "what was the word",
    ]
    console_page.screenshot(artifacts, "04-reconnected")


def test_renews_the_session_before_its_time_cap(
    quiet_browser: Any, open_page: Callable[..., ConsolePage], tmp_path: Path
) -> None:
    # Sessions of 8 s, renewed 4 s before the cap (?renew_before=4).
    with serve_console(tmp_path, engine={"tts": "espeak", "session_max_seconds": 8}) as short:
        console_page = open_page(quiet_browser, target=short).open("/?renew_before=4").sign_in(short.key)
        page = console_page.page
        first_call = console_page.connect()
        page.fill("#text-input", "keep this")
        page.click("#send-button")
        console_page.wait_event("response.done")
        page.locator("#transcript .note").get_by_text("Session renewed").wait_for(timeout=10_000)
        (renew,) = [r for r in console_page.reports if r["event"] == "renew"]
        assert renew["outcome"] == "ok"
        second_call = renew["call_id"]
        wait_until(page, lambda: not short.has_call(first_call), what="the old call to end")
        assert short.items(second_call)[0]["content"][0]["text"] == "keep this"
        assert page.locator("#call-state").get_attribute("data-state") == "connected"
        assert not page.locator("#transcript .note").get_by_text("reconnecting").count()


def test_switching_the_microphone_during_a_call(
    quiet_browser: Any, open_page: Callable[..., ConsolePage], console: Console
) -> None:
    console_page = open_page(quiet_browser).open().sign_in()
    page = console_page.page
    call_id = console_page.connect()
    # Once the microphone is allowed, the picker lists the inputs by name.
    console_page.poll("() => document.querySelectorAll('#mic-select option').length >= 2")
    options = page.eval_on_selector_all("#mic-select option", "els => els.map(e => [e.value, e.textContent])")
    assert options[0][0] == "" and all(label for _, label in options)
    page.select_option("#mic-select", options[-1][0])
    # A new stream, on the same call (no renegotiation), and the old one stopped.
    console_page.poll("() => window.__vg.streams.length === 2")
    state = page.evaluate(
        """() => {
          const [old, now] = window.__vg.streams;
          const pc = window.__vg.pcs.find(p => p.connectionState === "connected");
          return {
            old: old.getTracks().map(t => t.readyState),
            now: now.getTracks().map(t => t.readyState),
            sending: pc.getSenders().some(s => s.track === now.getAudioTracks()[0]),
            exact: window.__vg.constraints[1].audio.deviceId,
          };
        }"""
    )
    assert state == {"old": ["ended"], "now": ["live"], "sending": True, "exact": {"exact": options[-1][0]}}
    assert console_page.call_id() == call_id and console.has_call(call_id)
    # The choice is remembered for the next call.
    assert page.evaluate("() => localStorage.getItem('voxgate.microphone')") == options[-1][0]
