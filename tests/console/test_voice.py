"""Speaking to the console in real Chromium: a fake microphone says a sentence (espeak-ng) on a loop.

The engine's voice pipeline (VAD, turn detection, transcription) must see it: the user's words show in
the transcript and get an answer that is heard; mute really stops the audio reaching the engine;
push-to-talk turns detection off while held and makes one turn of what was said.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.console.conftest import SENTENCE, Console, ConsolePage

pytestmark = pytest.mark.browser

LOUD = 0.01
SPEECH_RMS = 300  # PCM16 RMS of the fake microphone's speech as the engine receives it (silence: ~0)


@pytest.fixture
def voiced(console: Console) -> Console:
    # The embedded engine must have its voice pipeline: these tests would prove nothing without it.
    assert console.engine.observer_factory is not None
    return console


class AudioTap:
    """Wraps the engine's input observers to record the loudness of what each session receives."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.levels: dict[str, list[tuple[float, float]]] = {}
        self.lock = threading.Lock()

    def __call__(self, session: Any) -> Any:
        return _TapObserver(self, session.id, self.inner(session) if self.inner else None)

    def record(self, session_id: str, pcm: bytes) -> None:
        samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64)
        rms = float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0
        with self.lock:
            self.levels.setdefault(session_id, []).append((time.monotonic(), rms))

    def loudest(self, session_id: str, since: float, until: float, *, required: bool = True) -> float:
        with self.lock:
            chosen = [rms for t, rms in self.levels.get(session_id, []) if since <= t <= until]
        assert chosen or not required, "the engine received no audio in that window"
        return max(chosen, default=0.0)


class _TapObserver:
    def __init__(self, tap: AudioTap, session_id: str, inner: Any) -> None:
        self.tap, self.session_id, self.inner = tap, session_id, inner

    def on_audio(self, pcm: bytes) -> None:
        self.tap.record(self.session_id, pcm)
        if self.inner is not None:
            self.inner.on_audio(pcm)

    def __getattr__(self, name: str) -> Any:
        # Whatever else the observer protocol has (e.g. on_committed) goes to the real observer.
        return getattr(self.inner, name)

    async def aclose(self) -> None:
        if self.inner is not None:
            await self.inner.aclose()


@pytest.fixture
def tap(console: Console, monkeypatch: pytest.MonkeyPatch) -> AudioTap:
    """Record what the engine receives (new sessions only; the engine's factory is restored after)."""
    audio_tap = AudioTap(console.engine.observer_factory)
    monkeypatch.setattr(console.engine, "observer_factory", audio_tap)
    return audio_tap


def words(text: str) -> set[str]:
    return {w.strip(".,!?\"'").lower() for w in text.split()}


def test_a_spoken_sentence_is_transcribed_answered_and_heard(
    speech_browser: Any, open_page: Callable[..., ConsolePage], voiced: Console, artifacts: Path
) -> None:
    console_page = open_page(speech_browser).open().sign_in()
    page = console_page.page
    page.select_option("#language-select", "en")
    console_page.connect()
    console_page.start_probe()
    # The engine hears the user (speaking indicator), commits the turn and transcribes it.
    console_page.wait_event("input_audio_buffer.speech_started", timeout=20_000)
    completed = console_page.wait_event(
        "conversation.item.input_audio_transcription.completed", timeout=30_000
    )
    heard = words(completed["transcript"])
    assert len(heard & words(SENTENCE)) >= 5, completed["transcript"]
    entry = page.locator(f"#transcript .msg-user[data-item-id='{completed['item_id']}'] .text")
    assert len(words(entry.inner_text()) & words(SENTENCE)) >= 5
    # The assistant answers it: shown, and heard.
    started = console_page.wait_event("output_audio_buffer.started", timeout=20_000)
    page.locator("#transcript .msg-assistant").get_by_text("You said:").first.wait_for()
    page.locator("#assistant-speaking[data-active=true]").wait_for(timeout=5000)
    page.wait_for_timeout(1000)
    assert console_page.loudness(started["_t"]) > LOUD
    console_page.screenshot(artifacts, "14-voice-turn")
    page.click("#mute-button")


def test_mute_stops_the_input(
    speech_browser: Any, open_page: Callable[..., ConsolePage], console: Console, tap: AudioTap
) -> None:
    console_page = open_page(speech_browser).open().sign_in()
    page = console_page.page

    def speech_reaches_the_engine(since: float) -> None:
        # The sentence comes round every few seconds: wait for it to arrive.
        deadline = time.monotonic() + 8
        while tap.loudest(session_id, since, time.monotonic(), required=False) <= SPEECH_RMS:
            assert time.monotonic() < deadline, "no speech reached the engine"
            page.wait_for_timeout(100)

    call_id = console_page.connect()
    session_id = console.engine.call(call_id).session.id
    speech_reaches_the_engine(time.monotonic())

    page.click("#mute-button")
    assert page.locator("#mute-button").get_attribute("aria-pressed") == "true"
    page.locator("#mute-button").get_by_text("Unmute").wait_for()
    muted_at = time.monotonic()
    muted_page_time = console_page.now()
    page.wait_for_timeout(5000)  # longer than one round of the sentence
    # What reaches the engine is silence (the first half second may still be in flight)...
    assert tap.loudest(session_id, muted_at + 0.5, time.monotonic()) < SPEECH_RMS / 20
    # ...so the engine hears no one speak, and the page's microphone meter shows nothing.
    late = [
        e
        for e in console_page.events("input_audio_buffer.speech_started")
        if e["_t"] > muted_page_time + 1000
    ]
    assert not late, late
    assert page.locator("#mic-meter").get_attribute("aria-valuenow") == "0"

    page.click("#mute-button")
    speech_reaches_the_engine(time.monotonic() + 0.2)


def test_push_to_talk_makes_one_turn(
    speech_browser: Any, open_page: Callable[..., ConsolePage], console: Console, artifacts: Path
) -> None:
    console_page = open_page(speech_browser).open().sign_in()
    page = console_page.page
    page.select_option("#language-select", "en")
    call_id = console_page.connect()
    # Muted, so nothing happens until the key is held (push-to-talk opens the microphone meanwhile).
    page.click("#mute-button")
    page.wait_for_timeout(1500)
    before = len(console_page.events())
    turn_detection = console_page.events("session.updated")[-1]["session"]["audio"]["input"]["turn_detection"]

    page.evaluate("() => document.activeElement.blur()")
    page.keyboard.down("Space")
    held_at = console_page.now()
    page.locator("#ptt-button[aria-pressed=true]").wait_for()
    assert page.evaluate("() => window.__vg.streams.at(-1).getAudioTracks()[0].enabled") is True
    page.wait_for_timeout(5500)  # at least one whole sentence
    page.keyboard.up("Space")
    released_at = console_page.now()

    committed = console_page.wait_event("input_audio_buffer.committed")
    done = console_page.wait_event("response.done", timeout=20_000)
    assert done["response"]["status"] == "completed"
    console_page.wait_event("session.update", direction="out", count=3)  # turn detection back on
    watched = {"session.update", "input_audio_buffer.clear", "input_audio_buffer.commit", "response.create"}
    sent = [
        e for e in console_page.events(direction="out") if e["_t"] >= held_at - 50 and e["type"] in watched
    ]
    kinds = [e["type"] for e in sent]
    # Held: detection off, earlier audio dropped. Released: commit and answer; once the answer is
    # done, a fresh buffer and detection back as it was.
    assert kinds == [
        "session.update",
        "input_audio_buffer.clear",
        "input_audio_buffer.commit",
        "response.create",
        "input_audio_buffer.clear",
        "session.update",
    ], kinds
    assert sent[0]["session"]["audio"]["input"]["turn_detection"] is None
    assert sent[-1]["session"]["audio"]["input"]["turn_detection"] == turn_detection
    assert sent[-1]["_t"] >= done["_t"]
    # While held the server detected no turns of its own; the one turn is what was said meanwhile.
    during = [e for e in console_page.events()[before:] if held_at <= e["_t"] <= released_at]
    assert not [e for e in during if e["type"] == "input_audio_buffer.speech_started"]
    held_ms = console.engine.call(call_id).session.conversation.audio_ms(committed["item_id"])

    assert 4000 <= held_ms <= 8000, held_ms
    # After the release the microphone is muted again, as it was.
    assert page.evaluate("() => window.__vg.streams.at(-1).getAudioTracks()[0].enabled") is False
    assert page.locator("#ptt-button").get_attribute("aria-pressed") == "false"
    page.locator(f"#transcript .msg-user[data-item-id='{committed['item_id']}']").wait_for()
    if console.engine.observer_factory is not None:
        # The hold starts anywhere in the looping sentence, so the turn holds the end of one and the
        # start of the next: several of its words, not necessarily all in order.
        completed = console_page.wait_event(
            "conversation.item.input_audio_transcription.completed", timeout=20_000
        )
        assert completed["item_id"] == committed["item_id"]
        assert len(words(completed["transcript"]) & words(SENTENCE)) >= 3, completed["transcript"]
        answer = page.locator("#transcript .msg-assistant").last
        answer.get_by_text("You said:").wait_for()
        assert len(words(answer.inner_text()) & words(completed["transcript"])) >= 3
    console_page.screenshot(artifacts, "15-push-to-talk")
