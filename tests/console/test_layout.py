"""The conversation is the page, in Chromium on a desktop and a 390x844 phone (screenshots in
artifacts/console/layout-*.png): a tall transcript whose entries carry their time, copied and downloaded
as text; the connect steps folded under one status line; a one-row header on phones; the event log
filtered by direction and type and searched; push-to-talk as a toggle; the speaker muted on its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.console.conftest import ConsolePage, serve_console

pytestmark = pytest.mark.browser

LOOKS: dict[str, dict[str, Any]] = {
    "desktop": {"viewport": {"width": 1280, "height": 900}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
}
# The time as the language writes it (English: 12-hour).
STAMP = re.compile(r"^\d\d:\d\d:\d\d( [AP]M)?$")
TIME = r"\[\d\d:\d\d:\d\d(?: [AP]M)?\]"


@pytest.mark.parametrize("look", list(LOOKS))
def test_the_conversation_is_the_page(
    look: str, quiet_browser: Any, open_page: Callable[..., ConsolePage], artifacts: Path
) -> None:
    console_page = open_page(quiet_browser, accept_downloads=True, **LOOKS[look]).open().sign_in()
    page = console_page.page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=console_page.console.url)
    # One header row, whatever the width: as tall as its tallest control.
    header = page.locator(".topbar").bounding_box()
    assert header is not None and header["height"] < 64, header
    assert page.evaluate("() => document.documentElement.scrollWidth") <= LOOKS[look]["viewport"]["width"]
    # Nothing to copy yet.
    assert page.locator("#transcript-copy").is_disabled()

    console_page.connect()
    # The steps are folded under a line saying how the connect went; opening it shows each one.
    summary = page.locator("#steps-summary")
    summary.get_by_text(re.compile(r"^Connected in \d+ ms$")).wait_for()
    assert page.locator("#steps").is_hidden()
    page.click("#call-details summary")
    assert page.locator("#steps [data-step=session][data-state=done]").is_visible()

    page.fill("#text-input", "hello layout")
    page.keyboard.press("Enter")
    page.locator("#transcript .msg-assistant").get_by_text("hello layout").wait_for()
    console_page.wait_event("response.done")
    stamps = page.locator("#transcript .msg .stamp").all_inner_texts()
    assert len(stamps) == 2 and all(STAMP.match(s) for s in stamps), stamps
    console_page.screenshot(artifacts, f"layout-{look}-call")

    page.click("#transcript-copy")
    page.locator("#transcript-tools-status").get_by_text("Copied.").wait_for()
    copied = page.evaluate("() => navigator.clipboard.readText()")
    lines = copied.splitlines()
    assert re.fullmatch(TIME + r" You: hello layout", lines[0]), lines
    assert re.fullmatch(TIME + r" Assistant: You said: \"hello layout\".*", lines[1]), lines
    with page.expect_download() as info:
        page.click("#transcript-download")
    download = info.value
    assert download.suggested_filename.startswith("voxgate-transcript-")
    assert download.suggested_filename.endswith(".txt")
    assert Path(download.path()).read_text(encoding="utf-8") == copied
    page.click("#stop-button")


def test_the_event_log_filters_and_searches(
    quiet_browser: Any, open_page: Callable[..., ConsolePage], artifacts: Path
) -> None:
    console_page = open_page(quiet_browser).open().sign_in()
    page = console_page.page
    console_page.connect()
    page.fill("#text-input", "needle in the log")
    page.keyboard.press("Enter")
    console_page.wait_event("response.done")
    page.click("#log-toggle")
    log = page.locator("#event-log li")
    log.first.wait_for()
    every = log.count()
    directions = lambda: set(page.eval_on_selector_all("#event-log li", "els => els.map(e => e.dataset.dir)"))  # noqa: E731
    types = lambda: set(page.eval_on_selector_all("#event-log li", "els => els.map(e => e.dataset.type)"))  # noqa: E731
    assert directions() == {"in", "out"}

    page.select_option("#log-dir", "out")
    assert directions() == {"out"} and 0 < log.count() < every
    page.select_option("#log-dir", "")
    page.select_option("#log-type", "response.done")
    assert types() == {"response.done"}
    page.select_option("#log-type", "")
    # The search looks inside the events: only those carrying the typed words are left.
    page.fill("#log-search", "needle in the log")
    found = types()
    assert found and "conversation.item.create" in found and "session.updated" not in found, found
    console_page.screenshot(artifacts, "layout-event-log-search", full_page=False)
    page.fill("#log-search", "")
    assert log.count() >= every
    page.click("#stop-button")


def test_push_to_talk_as_a_toggle_and_the_speaker_muted(
    quiet_browser: Any, open_page: Callable[..., ConsolePage], artifacts: Path
) -> None:
    console_page = open_page(quiet_browser).open().sign_in()
    page = console_page.page
    page.select_option("#ptt-mode", "toggle")
    console_page.connect()
    ptt = page.locator("#ptt-button")
    assert ptt.inner_text() == "Start talking"
    ptt.click()
    # The press is over, the turn is not: it lasts until the next press.
    page.locator("#ptt-button[aria-pressed=true]").wait_for()
    page.wait_for_timeout(600)
    assert ptt.get_attribute("aria-pressed") == "true" and ptt.inner_text() == "Send what I said"
    assert page.evaluate("() => window.__vg.streams.at(-1).getAudioTracks()[0].enabled") is True
    console_page.screenshot(artifacts, "layout-ptt-toggle-on")
    ptt.click()
    page.locator("#ptt-button[aria-pressed=false]").wait_for()
    # This microphone is silent: nothing was sent.
    page.locator("#transcript .note").get_by_text("Nothing was heard, so nothing was sent.").wait_for()
    # The speaker: muted and back, the call going on.
    speaker = page.locator("#speaker-button")
    speaker.click()
    assert page.evaluate("() => document.getElementById('remote-audio').muted") is True
    assert speaker.get_attribute("aria-pressed") == "true" and speaker.inner_text() == "Unmute speaker"
    speaker.click()
    assert page.evaluate("() => document.getElementById('remote-audio').muted") is False
    # The mode is remembered.
    page.click("#stop-button")
    console_page.open()
    assert page.locator("#ptt-mode").input_value() == "toggle"


# Draws `text` in the page's own font and a character no font has (U+10FFFD, private use): the same
# pixels mean the text came out as empty boxes.
TOFU = """(text) => {
  const font = getComputedStyle(document.body).font;
  const draw = (s) => {
    const canvas = document.createElement("canvas");
    canvas.width = 64; canvas.height = 40;
    const ctx = canvas.getContext("2d");
    ctx.font = font; ctx.fillText(s, 4, 28);
    return Array.from(ctx.getImageData(0, 0, 64, 40).data).join(",");
  };
  return [...text].map((c) => draw(c) === draw("\\u{10FFFD}"));
}"""


@pytest.mark.parametrize(("lang", "sample"), [("zh", "语音控制台"), ("ja", "音声コンソール")])
def test_every_shipped_language_has_glyphs(
    lang: str, sample: str, quiet_browser: Any, open_page: Callable[..., ConsolePage], artifacts: Path
) -> None:
    console_page = open_page(quiet_browser, locale=lang).open().sign_in()
    page = console_page.page
    assert page.evaluate("() => document.documentElement.lang") == lang
    assert page.evaluate(TOFU, sample) == [False] * len(sample)
    assert page.evaluate(TOFU, "\U0010fffd") == [True]  # the check can tell a box
    console_page.screenshot(artifacts, f"layout-font-{lang}")


def test_every_control_is_reached_with_the_keyboard_and_shows_its_focus(
    quiet_browser: Any, open_page: Callable[..., ConsolePage]
) -> None:
    console_page = open_page(quiet_browser).open().sign_in()
    page = console_page.page
    console_page.connect()
    page.fill("#text-input", "keys")
    page.keyboard.press("Enter")
    console_page.wait_event("response.done")
    controls: set[str] = set(
        page.eval_on_selector_all(
            "#console button, #console select, #console input, #console summary, #console [tabindex='0']",
            "els => els.filter(e => e.checkVisibility() && !e.disabled)"
            ".map(e => e.id || e.closest('[id]').id + ' ' + e.tagName.toLowerCase())",
        )
    )
    page.focus("#stop-button")
    reached: dict[str, str] = {}
    for _ in range(60):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "() => { const e = document.activeElement;"
            " return [e.id || e.closest('[id]').id + ' ' + e.tagName.toLowerCase(),"
            " getComputedStyle(e).outlineStyle]; }"
        )
        reached[focused[0]] = focused[1]
        if focused[0] == "log-toggle":
            break
    missing = controls - set(reached) - {"stop-button"}
    assert not missing, (missing, reached)
    unseen = {name for name in controls - {"stop-button"} if reached[name] in ("none", "")}
    assert not unseen, unseen
    page.click("#stop-button")


def test_instructions_only_where_the_policy_allows_them(
    quiet_browser: Any, open_page: Callable[..., ConsolePage], tmp_path: Path, artifacts: Path
) -> None:
    # This module's gateway keeps the default policy: callers choose a voice and a language, no more.
    plain = open_page(quiet_browser).open().sign_in()
    assert plain.page.locator("#instructions-input").is_hidden()
    overrides = ["audio.output.voice", "audio.input.transcription.language", "instructions"]
    with serve_console(tmp_path, console_mode="relay", policy={"client_overrides": overrides}) as allowing:
        console_page = open_page(quiet_browser, target=allowing).open().sign_in(allowing.key)
        page = console_page.page
        box = page.locator("#instructions-input")
        box.wait_for()
        assert box.get_attribute("placeholder") == "The server's own instructions apply when this is empty."
        box.fill("Answer like a pirate.")
        box.dispatch_event("change")
        console_page.connect()
        # The relay created the call with them, and the session says so.
        updated = console_page.wait_event("session.updated")
        assert updated["session"]["instructions"] == "Answer like a pirate.", updated["session"]
        console_page.screenshot(artifacts, "layout-instructions")
        page.click("#stop-button")
        page.locator("#call-state[data-state=idle]").wait_for()
        # Remembered for the next visit.
        console_page.open()
        assert page.locator("#instructions-input").input_value() == "Answer like a pirate."
