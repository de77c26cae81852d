"""The page itself in real Chromium: its languages (chosen from the browser, switchable, remembered),
a phone-sized screen, the keyboard, the event log drawer, and never a blank page."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.console.conftest import Console, ConsolePage
from voxgate.web.pages import STATIC_DIR

pytestmark = pytest.mark.browser

LOCALES = {
    lang: json.loads((STATIC_DIR / "locales" / f"{lang}.json").read_text())
    for lang in ("en", "es", "fr", "de", "zh", "ja")
}


def test_every_language_has_every_string() -> None:
    keys = set(LOCALES["en"])
    for lang, strings in LOCALES.items():
        assert set(strings) == keys, lang
        for key, text in strings.items():
            assert text.strip(), (lang, key)
            # The same placeholders in every translation.
            assert sorted(part.split("}")[0] for part in text.split("{")[1:]) == sorted(
                part.split("}")[0] for part in LOCALES["en"][key].split("{")[1:]
            ), (lang, key)


def test_language_from_the_browser_switchable_and_remembered(
    quiet_browser: Any, open_page: Callable[..., ConsolePage], artifacts: Path
) -> None:
    # The browser prefers Swiss French: the page starts in French.
    console_page = open_page(quiet_browser, locale="fr-CH").open()
    page = console_page.page
    assert page.evaluate("() => navigator.languages")[0].startswith("fr")
    page.get_by_text(LOCALES["fr"]["account.notSignedIn"]).wait_for()
    assert page.locator("html").get_attribute("lang") == "fr"
    console_page.sign_in()
    assert page.locator("#connect-button").inner_text() == LOCALES["fr"]["call.connect"]

    # Switching changes every string, including those drawn by code and the attributes.
    for lang in ("es", "de", "zh", "ja", "en"):
        page.select_option("#ui-language", lang)
        strings = LOCALES[lang]
        page.locator("#connect-button").get_by_text(strings["call.connect"], exact=True).wait_for()
        assert page.locator("html").get_attribute("lang") == lang
        assert page.locator("#call-state").inner_text() == strings["state.idle"]
        assert page.locator("#text-input").get_attribute("placeholder") == strings["talk.messagePlaceholder"]
        assert page.locator("#voice-select option").first.inner_text() == strings["settings.voiceDefault"]
        assert page.locator("#transcript").get_attribute("aria-label") == strings["transcript.title"]

    page.select_option("#ui-language", "ja")
    console_page.connect()
    page.fill("#text-input", "こんにちは")
    page.click("#send-button")
    page.locator("#transcript .msg-assistant").get_by_text("こんにちは").wait_for()
    assert page.locator("#call-state").inner_text() == LOCALES["ja"]["state.connected"]
    assert page.locator("#transcript .msg-user .who").inner_text() == LOCALES["ja"]["transcript.you"]
    console_page.screenshot(artifacts, "08-japanese")

    # Remembered: a reload (even with a French browser) keeps Japanese.
    page.reload()
    page.locator("#connect-button").get_by_text(LOCALES["ja"]["call.connect"], exact=True).wait_for()
    page.select_option("#ui-language", "es")
    page.locator("#connect-button").get_by_text(LOCALES["es"]["call.connect"], exact=True).wait_for()
    console_page.screenshot(artifacts, "09-spanish")
    assert console_page.errors == [], console_page.errors


def test_readable_on_a_phone(
    quiet_browser: Any, open_page: Callable[..., ConsolePage], artifacts: Path
) -> None:
    console_page = open_page(
        quiet_browser,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    ).open()
    page = console_page.page
    console_page.screenshot(artifacts, "10-phone-signin")
    console_page.sign_in()
    console_page.connect()
    page.fill(
        "#text-input", "a long message to see how the transcript wraps on a narrow screen without overflowing"
    )
    page.click("#send-button")
    page.locator("#transcript .msg-assistant").get_by_text("narrow screen").wait_for()
    # Nothing is wider than the screen, and the controls stay large enough to tap.
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    for button in ("#stop-button", "#mute-button", "#ptt-button", "#interrupt-button", "#send-button"):
        box = page.locator(button).bounding_box()
        assert box is not None and box["height"] >= 40 and box["x"] >= 0 and box["x"] + box["width"] <= 390, (
            button
        )
    console_page.screenshot(artifacts, "11-phone-call")
    page.click("#log-toggle")
    page.locator("#event-log li").first.wait_for()
    console_page.screenshot(artifacts, "12-phone-event-log", full_page=False)


def test_usable_with_the_keyboard(
    quiet_browser: Any, open_page: Callable[..., ConsolePage], console: Console, artifacts: Path
) -> None:
    console_page = open_page(quiet_browser).open()
    page = console_page.page
    page.keyboard.press("Tab")  # the skip link comes first
    assert page.evaluate("() => document.activeElement.className") == "skip-link"
    page.focus("#key")
    page.keyboard.type(console.key)
    page.keyboard.press("Enter")
    page.locator("#console").wait_for()
    # Tab reaches Connect, with a visible focus ring; Enter connects.
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.id") == "connect-button":
            break
    assert page.evaluate("() => document.activeElement.id") == "connect-button"
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
    page.keyboard.press("Enter")
    page.locator("#call-state[data-state=connected]").wait_for()
    assert page.evaluate("() => document.activeElement.id") == "stop-button"

    # The event log drawer opens from the keyboard and closes with Escape, giving focus back.
    page.focus("#log-toggle")
    page.keyboard.press("Enter")
    assert page.locator("#log-toggle").get_attribute("aria-expanded") == "true"
    page.locator("#event-log li[data-type='session.updated']").wait_for()
    page.locator("#event-log li[data-dir=out][data-type='session.update']").wait_for()
    page.locator("#event-log li[data-type='session.updated'] summary").click()
    assert (
        '"type": "session.updated"'
        in page.locator("#event-log li[data-type='session.updated'] pre").inner_text()
    )
    console_page.screenshot(artifacts, "13-event-log", full_page=False)
    page.keyboard.press("Escape")
    assert page.locator("#event-drawer").is_hidden()
    assert page.evaluate("() => document.activeElement.id") == "log-toggle"

    # Type and send a message with the keyboard alone.
    page.focus("#text-input")
    page.keyboard.type("typed with keys")
    page.keyboard.press("Enter")
    page.locator("#transcript .msg-assistant").get_by_text("typed with keys").wait_for()


def test_never_a_blank_page(quiet_browser: Any, open_page: Callable[..., ConsolePage]) -> None:
    # If the console's modules cannot load, the page says so instead of waiting forever.
    console_page = open_page(quiet_browser)
    page = console_page.page
    page.route("**/static/app.js", lambda route: route.fulfill(status=500, body="broken"))
    page.goto(console_page.console.url)
    page.get_by_text("The console could not start.").wait_for(timeout=15_000)


def test_the_console_s_rules(quiet_browser: Any, open_page: Callable[..., ConsolePage]) -> None:
    """The pure pieces, run in the page as the console runs them (ES modules, imported)."""
    page = open_page(quiet_browser).open().page
    result = page.evaluate(
        """async () => {
          const session = await import("/static/session.js");
          const { History } = await import("/static/history.js");
          const { pickLanguage } = await import("/static/i18n.js");
          const backoff = [1, 2, 3, 4, 5, 6, 7, 8]
            .map(n => [session.backoffMs(n, () => 0), session.backoffMs(n, () => 1)]);
          const transcription = { model: "gpt-4o-transcribe", prompt: "names" };
          const minted = { audio: { input: { transcription } } };
          const off = { audio: { input: { transcription: null } } };
          const history = new History();
          history.set("item_1", "user", "hello");
          history.set("item_2", "assistant", "hi there");
          history.set("item_3", "user", "   ");
          history.set("item_1", "user", "hello again");
          return {
            backoff,
            update: session.sessionUpdate(minted, { voice: "cedar", language: "de" }),
            automatic: session.sessionUpdate(minted, { voice: "", language: "auto" }),
            noTranscription: session.sessionUpdate(off, { voice: "ash", language: "fr" }),
            replay: history.replayEvents(),
            languages: [
              pickLanguage(null, ["de-AT", "en"]), pickLanguage(null, ["pt-BR", "zh-Hans-CN"]),
              pickLanguage(null, ["ko"]), pickLanguage("ja", ["fr"]), pickLanguage("xx", ["es-419"]),
            ],
          };
        }"""
    )
    # Exponential, capped at 15 s, with jitter over the upper half of each ceiling.
    assert result["backoff"] == [
        [250, 500], [500, 1000], [1000, 2000], [2000, 4000], [4000, 8000],
        [7500, 15000], [7500, 15000], [7500, 15000],
    ]  # fmt: skip
    assert result["update"] == {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "audio": {
                "output": {"voice": "cedar"},
                "input": {
                    "transcription": {"model": "gpt-4o-transcribe", "prompt": "names", "language": "de"}
                },
            },
        },
    }
    # Automatic language: the transcription without one (the whole object replaces the old one).
    assert result["automatic"]["session"] == {
        "type": "realtime",
        "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe", "prompt": "names"}}},
    }
    # Transcription off by the server's policy: the console does not turn it on.
    assert result["noTranscription"]["session"] == {"type": "realtime", "audio": {"output": {"voice": "ash"}}}
    assert result["replay"] == [
        {
            "type": "conversation.item.create",
            "item": {
                "id": "item_1",
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "hello again"}],
            },
        },
        {
            "type": "conversation.item.create",
            "item": {
                "id": "item_2",
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "hi there"}],
            },
        },
    ]
    assert result["languages"] == ["de", "zh", "en", "ja", "es"]
