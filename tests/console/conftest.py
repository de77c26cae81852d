"""Console fixtures: ``voxgate serve`` on its embedded engine (127.0.0.1, loopback-only ICE), users,
fake microphones made with espeak-ng and sox, and Debian's Chromium driven by pip Playwright.

The console connects through voxgate's relay by default; these fixtures serve it in ephemeral mode (an
``ek_`` secret minted for the page) unless a test asks for ``console_mode="relay"``, so the tests
written for the ephemeral flow keep checking it, and the relay's own tests (test_relay, test_history)
override the ``console`` fixture with a relay-mode gateway.

Two browsers at most: one whose fake microphone speaks a sentence on a loop, and one whose fake
microphone is silent. The silent one is launched without ``--use-fake-ui-for-media-stream``, so a
page gets the microphone only where the test grants it (``context.grant_permissions``) and is really
refused it otherwise. Pages are instrumented by an init script that records what the page did: its
peer connections, every data-channel event in and out, its microphone streams and its AudioContexts.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aioice.ice
import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_BASE_ARGS, in_thread, service_missing
from tests.support.server import ServerThread, free_port
from voxgate.adapters.sql import AccountStore, Database
from voxgate.settings import Settings
from voxgate.web.app import create_app

ENGINE_KEY = "sk-test-console-" + "0123456789abcdef"
SENTENCE = "the quick brown fox jumps over the lazy dog"
# No fake-UI flag: the page's permission is granted (or refused) per test through the context.
BROWSER_ARGS = [
    *CHROMIUM_BASE_ARGS,
    # Only 127.0.0.1 exists for ICE in these tests (see loopback_ice), and no mDNS names.
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]

# Records what the page does, without touching the console's code.
INSTRUMENT = """
(() => {
  const vg = (window.__vg = { events: [], pcs: [], streams: [], contexts: [], constraints: [] });
  const record = (dir, pc, data) => {
    try { vg.events.push({ dir, pc, t: performance.now(), event: JSON.parse(data) }); } catch {}
  };
  const NativePC = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends NativePC {
    constructor(...args) { super(...args); vg.pcs.push(this); }
  };
  const createDataChannel = NativePC.prototype.createDataChannel;
  NativePC.prototype.createDataChannel = function (...args) {
    const channel = createDataChannel.apply(this, args);
    const pc = vg.pcs.indexOf(this);
    channel.addEventListener("message", (e) => record("in", pc, e.data));
    const send = channel.send.bind(channel);
    channel.send = (data) => { record("out", pc, data); return send(data); };
    return channel;
  };
  const media = navigator.mediaDevices;
  const getUserMedia = media.getUserMedia.bind(media);
  media.getUserMedia = async (constraints) => {
    vg.constraints.push(constraints);
    const stream = await getUserMedia(constraints);
    vg.streams.push(stream);
    return stream;
  };
  const NativeAC = (vg.NativeAudioContext = window.AudioContext);
  window.AudioContext = class extends NativeAC {
    constructor(...args) { super(...args); vg.contexts.push(this); }
  };
})();
"""

# Listens to the assistant's audio as the page plays it (its own AudioContext, not one of the page's).
START_PROBE = """() => {
  const vg = window.__vg;
  const stream = document.getElementById("remote-audio").srcObject;
  const context = (vg.probeContext = new vg.NativeAudioContext());
  const analyser = context.createAnalyser();
  analyser.fftSize = 2048;
  context.createMediaStreamSource(stream).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  vg.levels = [];
  vg.probe = setInterval(() => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const s of samples) sum += s * s;
    vg.levels.push({ t: performance.now(), rms: Math.sqrt(sum / samples.length) });
  }, 40);
}"""


@pytest.fixture(scope="package", autouse=True)
def loopback_ice() -> Iterator[None]:
    """Both ICE agents offer only 127.0.0.1 (aioice skips loopback by default; this is its one seam)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])
        yield


# -- fake microphones --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def wavs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``speech``: the sentence with silence around it (48 kHz mono); ``silence``: two quiet seconds."""
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            service_missing(tool, "not installed; make test installs it as root")
    folder = tmp_path_factory.mktemp("mics")
    raw, speech, silence = folder / "raw.wav", folder / "speech.wav", folder / "silence.wav"
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(raw), SENTENCE], check=True)
    subprocess.run(
        ["sox", str(raw), "-r", "48000", "-c", "1", "-b", "16", str(speech), "pad", "0.5", "1.5"], check=True
    )
    subprocess.run(
        ["sox", "-n", "-r", "48000", "-c", "1", "-b", "16", str(silence), "trim", "0", "2"], check=True
    )
    return {"speech": speech, "silence": silence}


# -- the served gateway ------------------------------------------------------------------------


@dataclass
class Console:
    """A running ``voxgate serve`` with its embedded engine, and helpers to look inside it."""

    server: ServerThread
    settings: Settings
    key: str
    users: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def app(self) -> FastAPI:
        app = self.server.server.config.app
        assert isinstance(app, FastAPI)
        return app

    @property
    def engine(self) -> Any:
        return self.app.state.engine

    def new_user(self, name: str | None = None) -> str:
        """A new user's API key (a user of their own keeps tests' rate limits apart)."""
        name = name or "user-" + secrets.token_hex(3)

        async def create() -> str:
            db = Database(self.settings.effective_database_url)
            try:
                accounts = AccountStore(db)
                await accounts.create_user(name)
                return (await accounts.create_api_key(name))[1]
            finally:
                await db.aclose()

        key = in_thread(create())
        self.users[name] = key
        return key

    def has_call(self, call_id: str) -> bool:
        return call_id in self.engine._calls

    def items(self, call_id: str) -> list[dict[str, Any]]:
        """The conversation items of a live call's session, as the engine holds them."""
        call = self.engine.call(call_id)
        return list(call.session.conversation.items())

    def hang_up_at_engine(self, call_id: str) -> None:
        """End a call from the server side, as OpenAI would (the engine's own hangup endpoint)."""
        response = httpx.post(
            f"{self.url}/engine/v1/realtime/calls/{call_id}/hangup",
            headers={"Authorization": f"Bearer {ENGINE_KEY}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text


@contextmanager
def serve_console(folder: Path, **overrides: Any) -> Iterator[Console]:
    port = free_port()
    values: dict[str, Any] = {
        "OPENAI_API_KEY": None,
        "upstream_url": None,
        "data_dir": folder,
        "port": port,
        # As an operator sets it: absolute URLs handed out (calls_url) are built from it, never from Host.
        "public_url": f"http://127.0.0.1:{port}",
        "engine": {"tts": "espeak", "api_keys": [ENGINE_KEY]},
        "limits": {
            "mint_per_user": "1000/minute",
            "client_reports_per_user": "1000/minute",
            "calls_per_user": "1000/minute",
        },
        "console_mode": "ephemeral",
    }
    values.update(overrides)
    settings = Settings(_env_file=None, **values)

    async def prepare() -> str:
        db = Database(settings.effective_database_url)
        try:
            await db.migrate()
            accounts = AccountStore(db)
            await accounts.create_user("ada")
            return (await accounts.create_api_key("ada"))[1]
        finally:
            await db.aclose()

    key = in_thread(prepare())
    with ServerThread(create_app(settings), port=port) as server:
        yield Console(server=server, settings=settings, key=key, users={"ada": key})


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """One gateway per test module (the engine's speech stack loads once)."""
    with serve_console(tmp_path_factory.mktemp("console")) as served:
        yield served


# -- browsers ----------------------------------------------------------------------------------


@pytest.fixture(scope="package")
def playwright() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        service_missing("chromium at /usr/bin/chromium", "not installed; make test installs it as root")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def quiet_browser(playwright: Any, wavs: dict[str, Path]) -> Iterator[Any]:
    """A silent fake microphone; pages get it only if their context is granted the permission."""
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[*BROWSER_ARGS, f"--use-file-for-fake-audio-capture={wavs['silence']}"],
    )
    yield browser
    browser.close()


@pytest.fixture(scope="package")
def speech_browser(playwright: Any, wavs: dict[str, Path]) -> Iterator[Any]:
    """A fake microphone saying SENTENCE every few seconds; permission granted by the fake UI."""
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            *BROWSER_ARGS,
            "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-audio-capture={wavs['speech']}",
        ],
    )
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    folder = ARTIFACTS / "console"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# -- the page ----------------------------------------------------------------------------------


class ConsolePage:
    """A console page in its own browser context, with the instrumentation's records at hand."""

    def __init__(
        self, browser: Any, console: Console, *, mic: bool = True, script: str = "", **context_options: Any
    ) -> None:
        context_options.setdefault("viewport", {"width": 1100, "height": 900})
        self.context = browser.new_context(**context_options)
        if mic:
            self.context.grant_permissions(["microphone"], origin=console.url)
        self.console = console
        self.page = self.context.new_page()
        self.page.add_init_script(INSTRUMENT)
        if script:  # the test's own, e.g. to hold or alter what the network answers
            self.page.add_init_script(script)
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("console", self._console)
        self.reports: list[dict[str, Any]] = []
        self.relayed: list[str] = []  # relay mode: voxgate's call ids, from the relay's Location
        self.page.on("request", self._request)
        self.page.on("response", self._response)

    def _console(self, message: Any) -> None:
        # The browser logs every failed fetch; the 401 of "who is signed in?" before signing in is expected.
        if message.type in ("error", "warning") and "status of 401" not in message.text:
            self.errors.append(f"console.{message.type}: {message.text}")

    def _request(self, request: Any) -> None:
        if request.url.endswith("/api/client-metrics") and request.method == "POST":
            self.reports.append(json.loads(request.post_data or "{}"))

    def _response(self, response: Any) -> None:
        if response.url.endswith("/api/realtime/calls") and response.status == 201:
            self.relayed.append(response.headers["location"].rsplit("/", 1)[-1])

    def poll(self, script: str, arg: Any = None, timeout: float = 15_000, interval: float = 50) -> Any:
        """Evaluate `script` until it returns something truthy (wait_for_function would need eval,
        which the console's CSP rightly forbids)."""
        deadline = time.monotonic() + timeout / 1000
        while True:
            value = self.page.evaluate(script, arg)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout} ms waiting for: {script} ({arg!r})")
            self.page.wait_for_timeout(interval)

    def open(self, path: str = "/") -> ConsolePage:
        self.page.goto(self.console.url + path)
        self.poll("() => document.documentElement.dataset.ready === '1'")
        return self

    def sign_in(self, key: str | None = None) -> ConsolePage:
        self.page.fill("#key", key or self.console.key)
        self.page.click("#signin-form button[type=submit]")
        self.page.locator("#console").wait_for(state="visible")
        return self

    def start_connect(self) -> None:
        """Click Connect once the secret is there (fetched when the pointer comes over the button), without
        waiting for the outcome."""
        self.page.hover("#connect-button")
        self.page.locator("#token-info").get_by_text("Token ready").wait_for()
        self.page.click("#connect-button")

    def connect(self, timeout: float = 15_000) -> str:
        """Click Connect; wait until connected; the call id."""
        self.page.click("#connect-button")
        self.page.locator("#call-state[data-state=connected]").wait_for(timeout=timeout)
        return self.call_id()

    def call_id(self) -> str:
        """The latest call's id: the upstream's from the console's reports (ephemeral mode), or voxgate's
        from the relay's answer (relay mode, where reports do not name the call)."""

        def found() -> list[str]:
            ids = [r.get("call_id") for r in self.reports if r.get("outcome") == "ok" and r["event"] != "end"]
            return [str(i) for i in ids if i] or self.relayed

        deadline = time.monotonic() + 5
        while not (ids := found()) and time.monotonic() < deadline:
            self.page.wait_for_timeout(50)
        assert ids, (self.reports, self.relayed)
        return ids[-1]

    def events(self, kind: str | None = None, direction: str = "in") -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.page.evaluate(
            "([kind, dir]) => window.__vg.events"
            ".filter(e => e.dir === dir && (!kind || e.event.type === kind))"
            ".map(e => ({...e.event, _pc: e.pc, _t: e.t}))",
            [kind, direction],
        )
        return found

    def wait_event(
        self, kind: str, direction: str = "in", count: int = 1, timeout: float = 15_000
    ) -> dict[str, Any]:
        """Wait until `count` events of `kind` have been seen; the latest."""
        self.poll(
            "([kind, dir, count]) => "
            "window.__vg.events.filter(e => e.dir === dir && e.event.type === kind).length >= count",
            [kind, direction, count],
            timeout,
        )
        return self.events(kind, direction)[-1]

    def transcript(self) -> list[tuple[str, str]]:
        rows: list[list[str]] = self.page.evaluate(
            "() => [...document.querySelectorAll('#transcript .msg')]"
            ".map(m => [m.dataset.role, m.querySelector('.text').textContent])"
        )
        return [(role, text) for role, text in rows]

    def wait_calls_closed(self, timeout: float = 5000) -> None:
        """Every peer connection that was used is closed; at most one stands ready for the next call,
        unused (no remote side, no track)."""
        self.poll(
            """() => window.__vg.pcs.every(pc => pc.connectionState === 'closed' || (
                  pc.connectionState === 'new' && !pc.remoteDescription
                  && pc.getSenders().every(s => !s.track)
                ))""",
            timeout=timeout,
        )
        assert (
            self.page.evaluate("() => window.__vg.pcs.filter(pc => pc.connectionState !== 'closed').length")
            <= 1
        )

    def start_probe(self) -> None:
        """Start measuring the loudness of the assistant's audio in the page (an AnalyserNode)."""
        self.page.evaluate(START_PROBE)

    def loudness(self, since: float = 0.0, until: float | None = None) -> float:
        """The highest RMS level of the assistant's audio measured between two page times (ms)."""
        levels: list[dict[str, float]] = self.page.evaluate("() => window.__vg.levels || []")
        chosen = [x["rms"] for x in levels if x["t"] >= since and (until is None or x["t"] <= until)]
        return max(chosen, default=0.0)

    def now(self) -> float:
        value: float = self.page.evaluate("() => performance.now()")
        return value

    def screenshot(self, folder: Path, name: str, *, full_page: bool = True) -> None:
        self.page.screenshot(path=str(folder / f"{name}.png"), full_page=full_page)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def open_page(console: Console) -> Iterator[Callable[..., ConsolePage]]:
    """``open_page(browser, mic=True, script="", **context_options)``: a console page, closed after the
    test."""
    pages: list[ConsolePage] = []

    def make(browser: Any, *, target: Console | None = None, **options: Any) -> ConsolePage:
        page = ConsolePage(browser, target or console, **options)
        pages.append(page)
        return page

    yield make
    for page in pages:
        page.close()
