"""The console is honest about the local engine: it names "local engine, demo assistant" where it would
name a model, and a transcription language the engine's English-only Whisper cannot hear is flagged."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.console.conftest import ConsolePage
from tests.console.test_page import LOCALES


def test_the_console_says_local_engine_and_english_only(
    quiet_browser: Any, open_page: Callable[..., ConsolePage]
) -> None:
    console_page = open_page(quiet_browser).open()
    page = console_page.page
    console_page.sign_in()
    page.hover("#connect-button")
    page.locator("#token-info").get_by_text("Token ready").wait_for()
    hint = page.locator("#language-hint")
    assert hint.is_hidden()
    page.select_option("#language-select", "fr")
    hint.wait_for(state="visible")
    assert hint.inner_text() == LOCALES["en"]["settings.languageLocalEnglish"]
    page.select_option("#language-select", "en")
    hint.wait_for(state="hidden")
    page.select_option("#language-select", "auto")
    assert hint.is_hidden()
    # The call's line names the engine, not the model name the engine reports.
    token_info = page.locator("#token-info").inner_text()
    assert LOCALES["en"]["engine.demo"] in token_info and "gpt-realtime" not in token_info
    console_page.connect()
    page.wait_for_function("() => document.getElementById('call-info').textContent.includes('·')")
    info = page.locator("#call-info").inner_text()
    assert LOCALES["en"]["engine.demo"] in info and "gpt-realtime" not in info
    page.click("#stop-button")
