"""Test kit for the protocol engine: strict event checks, receivers, an aiortc offerer, test speech.

Most of it ships in :mod:`voxgate.testing` for users' own tests and is re-exported here; every server
event a test receives goes through :func:`check_server_event`: it must validate as the official
``RealtimeServerEvent`` union and carry no key the official models don't declare.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from voxgate.engine.assistants.responder import ResponderEvent, ResponderRequest, TextDelta
from voxgate.testing.events import (
    TIMEOUT,
    EventReader,
    check_client_secret,
    check_server_event,
    check_session_echo,
    sdk_reader,
)
from voxgate.testing.rtc import RtcClient, ToneTrack
from voxgate.testing.speech import ToneSynthesizer, rms, tone

__all__ = [
    "TIMEOUT",
    "EventReader",
    "RtcClient",
    "SlowResponder",
    "ToneSynthesizer",
    "ToneTrack",
    "check_client_secret",
    "check_server_event",
    "check_session_echo",
    "rms",
    "sdk_reader",
    "tone",
]


class SlowResponder:
    """Says one word, then waits (for cancellation tests)."""

    def __init__(self) -> None:
        self.started = asyncio.Event()

    async def respond(self, request: ResponderRequest) -> AsyncIterator[ResponderEvent]:
        yield TextDelta("Thinking")
        self.started.set()
        await asyncio.sleep(3600)
        yield TextDelta(" done")
