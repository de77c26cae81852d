"""Engine fixtures: the engine app served by uvicorn on 127.0.0.1, the official SDK pointed at it, and
loopback-only ICE. Events are received through :mod:`tests.engine.realtime_kit`, which checks each one
strictly against the official types.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aioice.ice
import pytest
import uvicorn
from openai import AsyncOpenAI
from starlette.applications import Starlette

from tests.engine.realtime_kit import ToneSynthesizer
from voxgate.engine.config import EngineConfig
from voxgate.engine.server.engine import Engine
from voxgate.engine.server.http import create_engine_app

API_KEY = "sk-test-engine-0123456789abcdef"


@pytest.fixture(autouse=True)
def loopback_ice(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both ICE agents offer only 127.0.0.1, so tests never touch another interface.

    aioice skips loopback by default and has no option for it; its address lookup is the one seam.
    """
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])


@dataclass
class EngineServer:
    """A running engine: its base URL (…/v1 for the SDK), app and engine."""

    port: int
    app: Starlette
    synthesizer: Any

    @property
    def engine(self) -> Engine:
        engine: Engine = self.app.state.engine
        return engine

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def client(self, api_key: str = API_KEY) -> AsyncOpenAI:
        return AsyncOpenAI(api_key=api_key, base_url=self.base_url, max_retries=0, timeout=10)


@asynccontextmanager
async def serve_engine(config: EngineConfig | None = None, **options: Any) -> AsyncIterator[EngineServer]:
    """Serve the engine app with uvicorn on a free 127.0.0.1 port inside the current event loop."""
    config = config or EngineConfig(api_keys=frozenset({API_KEY}))
    options.setdefault("synthesizer", ToneSynthesizer())
    app = create_engine_app(config, **options)
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and
    # without it small writes wait ~40 ms for delayed ACKs (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="warning",
            lifespan="on",
            ws="websockets-sansio",
            # One append may carry 15 MiB of audio, i.e. ~20 MiB of base64 text in one frame.
            ws_max_size=32 * 1024 * 1024,
        )
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.005)
        yield EngineServer(port=port, app=app, synthesizer=options["synthesizer"])
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture
async def make_server() -> AsyncIterator[Callable[..., Awaitable[EngineServer]]]:
    """Start engines with custom config/options; all are stopped after the test."""
    async with AsyncExitStack() as stack:

        async def start(config: EngineConfig | None = None, **options: Any) -> EngineServer:
            return await stack.enter_async_context(serve_engine(config, **options))

        yield start


@pytest.fixture
async def server(make_server: Callable[..., Awaitable[EngineServer]]) -> EngineServer:
    """The default engine: EchoResponder, ToneSynthesizer, one standard key."""
    return await make_server()


@pytest.fixture
async def client(server: EngineServer) -> AsyncIterator[AsyncOpenAI]:
    """The official async SDK pointed at :func:`server`."""
    async with server.client() as sdk:
        yield sdk
