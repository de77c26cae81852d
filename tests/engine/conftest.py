"""Engine fixtures: the engine app served by uvicorn on 127.0.0.1 (:mod:`voxgate.testing`, the helpers
shipped for users' tests), the official SDK pointed at it, and loopback-only ICE. Events are received
through :mod:`tests.engine.realtime_kit`, which checks each one strictly against the official types.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import aioice.ice
import pytest
from openai import AsyncOpenAI

from voxgate.engine.config import EngineConfig
from voxgate.testing.server import TEST_API_KEY, EngineServer, serve_engine

__all__ = ["API_KEY", "EngineServer", "serve_engine"]

API_KEY = TEST_API_KEY


@pytest.fixture(autouse=True)
def loopback_ice(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both ICE agents offer only 127.0.0.1, so tests never touch another interface.

    aioice skips loopback by default and has no option for it; its address lookup is the one seam.
    """
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])


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
