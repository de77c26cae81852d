"""Helpers for testing code that talks to the Realtime API, against voxgate's local engine.

Everything here runs in-process on 127.0.0.1 with no model weights: the engine answers with its echo
assistant and speaks with :class:`ToneSynthesizer` (100 ms of tone per word) unless told otherwise.

Example (pytest with ``pytest-asyncio`` or anyio)::

    from voxgate.testing import RtcClient, serve_engine

    async def test_my_client_gets_a_reply() -> None:
        async with serve_engine() as server, server.client() as sdk:
            # The official SDK over WebSocket ...
            async with sdk.realtime.connect(model="gpt-realtime") as connection:
                ...
            # ... or a WebRTC call, as a browser would place it.
            caller = RtcClient()
            call_id = await server.call(caller)  # offer posted with the SDK, answer applied
            assert (await caller.events.next())["type"] == "session.created"
            await caller.close()

The modules import aiortc, uvicorn and the official SDK; import them only from tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from voxgate.testing.events import (
        EventReader,
        check_client_secret,
        check_server_event,
        check_session_echo,
    )
    from voxgate.testing.rtc import RtcClient, ToneTrack
    from voxgate.testing.server import TEST_API_KEY, EngineServer, serve_engine
    from voxgate.testing.speech import ToneSynthesizer, rms, tone

__all__ = [
    "TEST_API_KEY",
    "EngineServer",
    "EventReader",
    "RtcClient",
    "ToneSynthesizer",
    "ToneTrack",
    "check_client_secret",
    "check_server_event",
    "check_session_echo",
    "rms",
    "serve_engine",
    "tone",
]

_HOME = {
    "EventReader": "events",
    "check_client_secret": "events",
    "check_server_event": "events",
    "check_session_echo": "events",
    "RtcClient": "rtc",
    "ToneTrack": "rtc",
    "TEST_API_KEY": "server",
    "EngineServer": "server",
    "serve_engine": "server",
    "ToneSynthesizer": "speech",
    "rms": "speech",
    "tone": "speech",
}


def __getattr__(name: str) -> Any:
    # Lazy, so importing one helper does not pull in aiortc or uvicorn for the others.
    if name in _HOME:
        import importlib

        return getattr(importlib.import_module(f"voxgate.testing.{_HOME[name]}"), name)
    raise AttributeError(name)
