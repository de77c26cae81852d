"""The engine served in-process by uvicorn on a free 127.0.0.1 port, for tests.

``async with serve_engine() as server:`` gives a running :class:`EngineServer`: its URLs, the official
SDK pointed at it (:meth:`EngineServer.client`), a shortcut to place a WebRTC call
(:meth:`EngineServer.call`) and the :class:`~voxgate.engine.server.engine.Engine` behind it for
assertions on its state. The server stops when the block ends.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import uvicorn
from openai import AsyncOpenAI
from starlette.applications import Starlette

from voxgate.engine.config import EngineConfig
from voxgate.engine.server.http import create_engine_app
from voxgate.testing.speech import ToneSynthesizer

if TYPE_CHECKING:
    from voxgate.engine.server.engine import Engine
    from voxgate.testing.rtc import RtcClient

__all__ = ["TEST_API_KEY", "EngineServer", "serve_engine"]

TEST_API_KEY = "sk-test-engine-0123456789abcdef"


@dataclass
class EngineServer:
    """A running engine: its base URL (…/v1 for the SDK), app and engine."""

    port: int
    app: Starlette
    synthesizer: Any
    api_key: str = TEST_API_KEY  # what client() uses unless told otherwise

    @property
    def engine(self) -> Engine:
        """The engine behind the app (its keys, calls and sessions)."""
        engine: Engine = self.app.state.engine
        return engine

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The ``base_url`` the official SDK takes (``…/v1``)."""
        return f"{self.url}/v1"

    def client(self, api_key: str | None = None) -> AsyncOpenAI:
        """The official async SDK pointed at this engine (no retries, 10 s timeout)."""
        return AsyncOpenAI(api_key=api_key or self.api_key, base_url=self.base_url, max_retries=0, timeout=10)

    async def call(self, rtc: RtcClient, session: dict[str, Any] | None = None) -> str:
        """Post ``rtc``'s offer with the SDK, connect it with the answer and return the call id."""
        offer = await rtc.offer()
        async with self.client() as sdk:
            if session is None:
                raw = await sdk.realtime.calls.with_raw_response.create(sdp=offer)
            else:
                raw = await sdk.realtime.calls.with_raw_response.create(sdp=offer, session=session)  # type: ignore[arg-type]
        await rtc.connect(raw.http_response.text)
        return str(raw.headers["location"]).rsplit("/", 1)[-1]


@asynccontextmanager
async def serve_engine(config: EngineConfig | None = None, **options: Any) -> AsyncIterator[EngineServer]:
    """Serve the engine app with uvicorn on a free 127.0.0.1 port inside the current event loop.

    ``config`` defaults to one standard key, :data:`TEST_API_KEY`; ``options`` go to the
    :class:`~voxgate.engine.server.engine.Engine` (``responder``, ``synthesizer`` — a
    :class:`~voxgate.testing.speech.ToneSynthesizer` unless given —, ``observer_factory``, ``clock``).
    """
    config = config or EngineConfig(api_keys=frozenset({TEST_API_KEY}))
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
