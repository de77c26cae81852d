"""OpenAI's WebRTC browser example, run by a real headless Chromium against the engine.

The page (``pages/realtime.html``) holds the guide's code almost verbatim: ``new RTCPeerConnection()``,
an ``audio`` element for the remote track, the microphone from ``getUserMedia`` (a fake one playing
an espeak-ng phrase), the ``oai-events`` channel, and the offer POSTed as ``application/sdp`` with an
``ek_`` key. It is served from another origin than the engine, so CORS (preflight, exposed ``Location``)
is part of what is tested. Every event the page received is checked against the official types.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from tests.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, service_missing
from tests.engine.conftest import API_KEY
from tests.engine.realtime_kit import check_server_event
from tests.support.server import ServerThread
from voxgate.engine.config import EngineConfig
from voxgate.engine.server.http import create_engine_app
from voxgate.engine.speech.tts import EspeakSynthesizer

pytestmark = pytest.mark.browser

PAGES = Path(__file__).resolve().parents[1] / "pages"
PHRASE = "the quick brown fox jumps over the lazy dog"


@pytest.fixture(scope="module")
def mic_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fake microphone: an espeak-ng phrase at 48 kHz mono with silence around it (it loops)."""
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        service_missing("espeak-ng and sox", "not installed; make test installs them as root")
    folder = tmp_path_factory.mktemp("mic")
    subprocess.run(["espeak-ng", "-w", str(folder / "raw.wav"), PHRASE], check=True)
    subprocess.run(
        ["sox", str(folder / "raw.wav"), "-r", "48000", "-c", "1", "-b", "16", str(folder / "speech.wav")],
        check=True,
    )
    subprocess.run(
        ["sox", str(folder / "speech.wav"), str(folder / "mic.wav"), "pad", "0.5", "1.5"], check=True
    )
    return folder / "mic.wav"


@pytest.fixture
def browser_with_mic(mic_wav: Path) -> Iterator[Any]:
    """Chromium as in the ``chromium`` fixture, plus the fake microphone file and loopback ICE."""
    if not Path(CHROMIUM).exists():
        service_missing("chromium at /usr/bin/chromium", "not installed; make test installs it as root")
    from playwright.sync_api import sync_playwright

    args = [
        *CHROMIUM_ARGS,
        f"--use-file-for-fake-audio-capture={mic_wav}",
        # The engine's ICE agent offers only 127.0.0.1 in tests (see tests/engine/conftest.py).
        "--allow-loopback-in-peer-connection",
    ]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def recognizer() -> Any:
    from voxgate.engine.speech.asr import WhisperRecognizer

    return WhisperRecognizer()


@pytest.fixture
def servers(recognizer: Any) -> Iterator[tuple[ServerThread, ServerThread]]:
    """The engine (espeak-ng voice, the voice pipeline) and, on another origin, the static test pages."""
    from voxgate.engine.speech.vad import SileroModel
    from voxgate.engine.voice import voice_observer_factory

    engine_app = create_engine_app(
        EngineConfig(api_keys=frozenset({API_KEY})),
        synthesizer=EspeakSynthesizer(),
        observer_factory=voice_observer_factory(SileroModel().detector, recognizer),
    )
    pages_app = Starlette(routes=[Mount("/", StaticFiles(directory=PAGES, html=True))])
    with ServerThread(engine_app) as engine, ServerThread(pages_app) as pages:
        yield engine, pages


def wait_until(predicate: Any, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_openai_browser_example_against_the_engine(
    browser_with_mic: Any, servers: tuple[ServerThread, ServerThread]
) -> None:
    engine_server, pages = servers
    engine = engine_server.server.config.app.state.engine
    # The server's policy, in the key: the mic's turns are transcribed but neither answered nor allowed
    # to interrupt the answer to the typed text (whose audio the test measures).
    turns = {"type": "server_vad", "create_response": False, "interrupt_response": False}
    minted = httpx.post(
        f"{engine_server.url}/v1/realtime/client_secrets",
        json={
            "session": {
                "type": "realtime",
                "audio": {"input": {"turn_detection": turns}, "output": {"voice": "marin"}},
            }
        },
        headers={"Authorization": f"Bearer {API_KEY}"},
    ).json()
    key = minted["value"]
    assert key.startswith("ek_")
    calls_url = f"{engine_server.url}/v1/realtime/calls"

    ARTIFACTS.mkdir(exist_ok=True)
    page = browser_with_mic.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{pages.url}/realtime.html?{urlencode({'key': key, 'url': calls_url, 'text': 'hello'})}")

    page.wait_for_function(
        "window.failure || window.events.some(e => e.type === 'output_audio_buffer.started')", timeout=20_000
    )
    page.wait_for_timeout(300)  # mid-sentence: the screenshot shows the level meter moving
    page.screenshot(path=str(ARTIFACTS / "browser-webrtc-speaking.png"))
    page.wait_for_function(
        "window.failure || window.events.some(e => e.type === 'output_audio_buffer.stopped')", timeout=20_000
    )
    page.wait_for_timeout(1500)  # a quiet stretch after playback, for the level check
    assert page.evaluate("window.failure") is None, page.evaluate("window.failure")
    events: list[dict[str, Any]] = page.evaluate("window.events")
    for event in events:
        check_server_event(event)
    types = [e["type"] for e in events]
    assert types[:2] == ["session.created", "session.updated"], types
    updated = events[1]["session"]
    assert updated["instructions"] == "You are a friendly assistant."
    assert updated["audio"]["output"]["voice"] == "marin"  # from the key
    assert updated["audio"]["input"]["transcription"]["model"] == "gpt-4o-mini-transcribe"
    for expected in ("response.created", "output_audio_buffer.started", "response.done"):
        assert expected in types
    done = next(e for e in events if e["type"] == "response.done")["response"]
    assert done["status"] == "completed"
    assert done["output"][0]["content"][0]["transcript"].startswith('You said: "hello"')

    # Location crossed origins (CORS exposes it) and names the engine's live call.
    assert page.evaluate("window.sdpStatus") == 201
    call_id = page.evaluate("window.callId")
    assert call_id in engine._calls

    # The remote audio, measured in the page with an AnalyserNode: quiet before the response, loud
    # between output_audio_buffer.started and .stopped, quiet again after.
    timings = page.evaluate("window.timings")
    arrivals = dict(reversed(page.evaluate("window.arrivals")))  # type -> first arrival
    levels: list[list[float]] = page.evaluate("window.levels")
    started, stopped = arrivals["output_audio_buffer.started"], arrivals["output_audio_buffer.stopped"]
    before = [lvl for t, lvl in levels if t < started]
    during = [lvl for t, lvl in levels if started <= t <= stopped + 200]
    # The browser plays behind its jitter buffer, which grows on a loaded machine (0.3–0.6 s seen with
    # the whole suite on 2 cores): quiet within a second of .stopped.
    after = [lvl for t, lvl in levels if t > stopped + 1000]
    assert before and during and after
    assert max(before) < 0.01 and max(after) < 0.01, (max(before), max(after))
    loud_ms = 20 * sum(lvl > 0.02 for lvl in during)
    assert max(during) > 0.05 and loud_ms > 400, (max(during), loud_ms)

    # The fake microphone's phrase went through Chromium's encoder, the engine's VAD and Whisper.
    page.wait_for_function(
        "window.events.some(e => e.type === 'conversation.item.input_audio_transcription.completed')",
        timeout=15_000,
    )
    events = page.evaluate("window.events")
    for event in events:
        check_server_event(event)
    heard = next(e for e in events if e["type"] == "conversation.item.input_audio_transcription.completed")
    assert "quick brown fox" in heard["transcript"].lower(), heard["transcript"]
    assert [e["type"] for e in events].count("response.created") == 1  # the typed turn only

    page.screenshot(path=str(ARTIFACTS / "browser-webrtc.png"))
    open_ms = timings["open"] - timings["start"]
    response_ms = arrivals["response.done"] - timings["open"]

    # Closing the peer connection ends the call on the engine's side.
    closed_at = time.monotonic()
    page.evaluate("hangup()")
    wait_until(lambda: call_id not in engine._calls, within=5)
    hangup_ms = (time.monotonic() - closed_at) * 1000
    print(
        f"browser: channel open {open_ms:.0f} ms after load, response.done {response_ms:.0f} ms after open, "
        f"remote audio peak {max(during):.3f} with {loud_ms} ms loud, hangup seen in {hangup_ms:.0f} ms"
    )
    assert not errors, errors
    page.close()
