"""The stock ``@openai/agents-realtime`` browser client, in a real headless Chromium, against voxgate.

The page (``page/agent.js``, bundled by esbuild into ``page/dist/agent.bundle.js`` by ``make``) holds the
Agents SDK quickstart unchanged: ``new RealtimeAgent({name, instructions})``, ``new RealtimeSession(agent)``
and ``session.connect({apiKey, url})`` with a key its own backend (``POST ./token``, served by this test
next to the page, on another origin than voxgate) obtained. A typed turn goes out with
``session.sendMessage`` and the assistant's reply is read from ``session.history``.

Two targets: the local engine directly (an ``ek_`` key minted with the engine's standard key), and
``voxgate serve`` in relay mode (a relay ticket from ``/api/realtime-token``, the SDP posted to voxgate's
relay, the call then found in History with both sides' text, and no upstream credential in anything the
page received).

The SDK refuses, in a browser, any key that does not start with ``ek_`` unless the page opts out with
``useInsecureApiKey: true`` (``dist/openaiRealtimeWebRtc.mjs``)::

    const isClientKey = typeof apiKey === 'string' && apiKey.startsWith('ek_');
    if (isBrowserEnvironment() && !this.#useInsecureApiKey && !isClientKey) { ... UserError(...) }

and ``RealtimeSession`` builds its WebRTC transport with no options, so unchanged code can only pass that
check with a key that starts with ``ek_``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aioice.ice
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from tests.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, service_missing
from tests.console.conftest import ENGINE_KEY, Console, serve_console
from tests.engine.conftest import API_KEY
from tests.support.server import ServerThread
from voxgate.engine.config import EngineConfig
from voxgate.engine.server.http import create_engine_app

pytestmark = pytest.mark.browser

PAGE = Path(__file__).resolve().parent / "page"
BUNDLE = PAGE / "dist" / "agent.bundle.js"
TYPED = "hello there"
# An ek_ key as it appears in text (the SDK's own `startsWith('ek_')` is not one).
EK_VALUE = re.compile(r"ek_[A-Za-z0-9_-]{8,}")
INTERNAL_KEY_PREFIX = "sk-voxgate-internal-"

TokenSource = Callable[[], Awaitable[tuple[int, dict[str, Any]]]]


@pytest.fixture(scope="module", autouse=True)
def loopback_ice() -> Iterator[None]:
    """Both ICE agents offer only 127.0.0.1 (aioice skips loopback by default; this is its one seam)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])
        yield


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Chromium whose fake microphone is silent: the SDK opens it, but only typed turns are made."""
    if not Path(CHROMIUM).exists():
        service_missing("chromium at /usr/bin/chromium", "not installed; make test installs it as root")
    if shutil.which("sox") is None:
        service_missing("sox", "not installed; make test installs it as root")
    if not BUNDLE.exists():
        service_missing(str(BUNDLE.relative_to(PAGE.parent.parent.parent)), "not built; make test builds it")
    ARTIFACTS.mkdir(exist_ok=True)
    silence = tmp_path_factory.mktemp("mic") / "silence.wav"
    subprocess.run(
        ["sox", "-n", "-r", "48000", "-c", "1", "-b", "16", str(silence), "trim", "0", "2"], check=True
    )
    from playwright.sync_api import sync_playwright

    args = [
        *CHROMIUM_ARGS,
        f"--use-file-for-fake-audio-capture={silence}",
        "--allow-loopback-in-peer-connection",
        "--disable-features=WebRtcHideLocalIpsWithMdns",
    ]
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        try:
            yield launched
        finally:
            launched.close()


def page_server(token: TokenSource) -> ServerThread:
    """The page's own site: the static page and its backend's ``POST /token``."""

    async def token_route(request: Request) -> JSONResponse:
        status, body = await token()
        return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})

    app = Starlette(
        routes=[
            Route("/token", token_route, methods=["POST"]),
            Mount("/", StaticFiles(directory=PAGE, html=True)),
        ]
    )
    return ServerThread(app)


def wait_until(predicate: Callable[[], Any], within: float = 20.0, what: str = "") -> Any:
    """Poll until `predicate()` is truthy; its value."""
    deadline = time.monotonic() + within
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what or predicate}"
        time.sleep(0.05)
    return value


class AgentPage:
    """The agent page in a browser context of its own, with every response it received kept."""

    def __init__(self, browser: Any, url: str) -> None:
        self.context = browser.new_context()
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.responses: list[Any] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None)
        self.page.on("response", lambda response: self.responses.append(response))
        self.page.goto(url)

    def state(self) -> dict[str, Any]:
        value: dict[str, Any] = self.page.evaluate("window.agentTest")
        return value

    def connect(self) -> str:
        """Wait for ``session.connect`` to finish; the call id the SDK read from ``Location``."""
        self.page.wait_for_function(
            "['connected', 'failed'].includes(window.agentTest.status)", timeout=30_000
        )
        state = self.state()
        hint = ""
        if "requires an ephemeral client key" in str(state["error"]):
            hint = " (in a browser the stock SDK takes only keys starting with ek_, see the module docstring)"
        assert state["status"] == "connected", (
            f"session.connect failed: {state['error']} (token {state['token']}){hint}"
        )
        assert state["callId"], state
        return str(state["callId"])

    def say(self, text: str) -> str:
        """Send a typed message; the assistant's completed reply (text or transcript) from session.history."""
        self.page.evaluate("(text) => window.say(text)", text)
        self.page.wait_for_function(
            """() => window.agentTest.history.some(
                 (item) => item.role === 'assistant' && item.status === 'completed' && item.text)""",
            timeout=30_000,
        )
        history = self.state()["history"]
        assert [item["text"] for item in history if item["role"] == "user"] == [text], history
        replies = [item["text"] for item in history if item["role"] == "assistant"]
        assert len(replies) == 1, history
        return str(replies[0])

    def received(self) -> list[tuple[str, str]]:
        """(url, text) of every response body the page received, then of every event it received."""
        bodies: list[tuple[str, str]] = []
        for response in self.responses:
            if 300 <= response.status < 400:  # a redirect has no body of its own
                continue
            bodies.append((response.url, response.body().decode("utf-8", "replace")))
        for event in self.state()["events"]:
            bodies.append(("data channel", json.dumps(event)))
        return bodies

    def close(self) -> None:
        if self.state()["status"] == "connected":
            self.page.evaluate("window.hangup()")
        self.context.close()


@pytest.fixture
def open_page(browser: Any) -> Iterator[Callable[[str], AgentPage]]:
    pages: list[AgentPage] = []

    def make(url: str) -> AgentPage:
        pages.append(AgentPage(browser, url))
        return pages[-1]

    yield make
    for page in pages:
        page.close()


def test_stock_agents_sdk_against_the_engine(open_page: Callable[[str], AgentPage]) -> None:
    engine_app = create_engine_app(EngineConfig(api_keys=frozenset({API_KEY})))
    with ServerThread(engine_app) as engine_server:
        minted: list[str] = []

        async def mint() -> tuple[int, dict[str, Any]]:
            # The page's backend, as the docs show it: a client secret minted with the standard key.
            async with httpx.AsyncClient(timeout=10) as http:
                answer = await http.post(
                    f"{engine_server.url}/v1/realtime/client_secrets",
                    json={"session": {"type": "realtime"}},
                    headers={"Authorization": f"Bearer {API_KEY}"},
                )
            body = answer.json()
            minted.append(body.get("value", ""))
            # The engine is not api.openai.com: the key's answer names where to post the SDP.
            return answer.status_code, {**body, "calls_url": f"{engine_server.url}/v1/realtime/calls"}

        with page_server(mint) as pages:
            page = open_page(f"{pages.url}/agent.html")
            call_id = page.connect()
            assert minted and minted[0].startswith("ek_"), minted
            engine = engine_app.state.engine
            assert call_id in engine._calls

            reply = page.say(TYPED)
            assert reply == f'You said: "{TYPED}". I am the voxgate echo assistant.'
            page.page.screenshot(path=str(ARTIFACTS / "agents-realtime-engine.png"))

            # The SDK configured the session itself (session.update) and the engine accepted it.
            state = page.state()
            types = [event["type"] for event in state["events"]]
            assert "session.updated" in types and "error" not in types, [
                e for e in state["events"] if e["type"] == "error" or e["type"].startswith("session.update")
            ]
            assert not state["errors"], state["errors"]

            page.page.evaluate("window.hangup()")
            wait_until(lambda: call_id not in engine._calls, within=10, what="the engine to end the call")
            assert not page.errors, page.errors


def calls_of(listing: Any) -> list[dict[str, Any]]:
    """The calls in a ``GET /api/calls`` answer (a list, or a page of them under a key)."""
    if isinstance(listing, list):
        return listing
    for key in ("data", "calls", "items"):
        if isinstance(listing.get(key), list):
            found: list[dict[str, Any]] = listing[key]
            return found
    raise AssertionError(f"no calls in {listing}")


def items_of(detail: dict[str, Any]) -> list[dict[str, Any]]:
    """The conversation items of a ``GET /api/calls/{id}`` answer."""
    items = detail.get("items")
    if items is None and isinstance(detail.get("call"), dict):
        items = detail["call"].get("items")
    assert isinstance(items, list), detail
    return items


def test_stock_agents_sdk_through_the_relay(
    open_page: Callable[[str], AgentPage], tmp_path_factory: pytest.TempPathFactory
) -> None:
    backend: dict[str, Any] = {}

    async def ticket() -> tuple[int, dict[str, Any]]:
        # The page's backend asks voxgate for a client secret with the user's API key (never sent on).
        console: Console = backend["console"]
        async with httpx.AsyncClient(timeout=10) as http:
            answer = await http.post(
                f"{console.url}/api/realtime-token", headers={"Authorization": f"Bearer {console.key}"}
            )
        backend["token"] = answer.json()
        return answer.status_code, backend["token"]

    with page_server(ticket) as pages:
        # The page lives on its own origin; voxgate lets it in by configuration.
        folder = tmp_path_factory.mktemp("relay")
        with serve_console(folder, console_mode="relay", cors_origins=[pages.url]) as console:
            backend["console"] = console
            page = open_page(f"{pages.url}/agent.html")
            call_id = page.connect()

            token = backend["token"]
            # voxgate's own ticket, usable only at its relay: not a key its engine (the upstream) minted.
            upstream_minted = console.engine.keys._minted
            assert token["value"] not in upstream_minted, token
            assert token["calls_url"] == f"{console.url}/api/realtime/calls", token
            assert call_id.startswith("vgc_"), call_id

            reply = page.say(TYPED)
            assert reply == f'You said: "{TYPED}". I am the voxgate echo assistant.'
            page.page.screenshot(path=str(ARTIFACTS / "agents-realtime-relay.png"))

            # History, read with the user's API key: the call, and both sides' text (written by the
            # supervisor from the call's sideband, so it may lag the page by a moment).
            auth = {"Authorization": f"Bearer {console.key}"}
            listing = httpx.get(f"{console.url}/api/calls", headers=auth, timeout=10)
            assert listing.status_code == 200, listing.text
            assert call_id in [call["id"] for call in calls_of(listing.json())], listing.text

            def both_sides() -> list[tuple[str, str]] | None:
                detail = httpx.get(f"{console.url}/api/calls/{call_id}", headers=auth, timeout=10)
                assert detail.status_code == 200, detail.text
                said = [(item["role"], item.get("text") or "") for item in items_of(detail.json())]
                return said if ("user", TYPED) in said and ("assistant", reply) in said else None

            wait_until(both_sides, within=15, what="the ledger to hold both sides of the typed turn")

            # Nothing the page received (its JavaScript, every HTTP body, every data-channel event) holds
            # an upstream ephemeral key, the gateway's key for its engine, or the user's API key.
            leaks = []
            for url, text in page.received():
                upstream_keys = [key for key in EK_VALUE.findall(text) if key != token["value"]]
                for secret in (INTERNAL_KEY_PREFIX, ENGINE_KEY, console.key, *upstream_minted):
                    if secret in text:
                        upstream_keys.append(secret)
                if upstream_keys:
                    leaks.append((url, upstream_keys))
            assert not leaks, leaks
            assert any(url.endswith("/agent.bundle.js") for url, _ in page.received())
            assert not page.errors, page.errors
