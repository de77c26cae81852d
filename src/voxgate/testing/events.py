"""Strict checks of server events against the official SDK's types, and a reader that applies them.

Every event an :class:`EventReader` returns validated as the official ``RealtimeServerEvent`` union and
carried no key the official models don't declare, so a test catches a server (or a proxy) that drifts
from the protocol as well as one that sends the wrong event.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from openai.types.realtime import (
    ClientSecretCreateResponse,
    RealtimeServerEvent,
    RealtimeSessionCreateResponse,
    RealtimeTranscriptionSessionCreateResponse,
)
from pydantic import TypeAdapter

from voxgate.protocol.strict import unknown_fields

__all__ = [
    "TIMEOUT",
    "EventReader",
    "check_client_secret",
    "check_server_event",
    "check_session_echo",
    "sdk_reader",
]

SERVER_EVENTS: TypeAdapter[Any] = TypeAdapter(RealtimeServerEvent)
# session.created/updated type their session as the *request* model, which lacks the echo's
# object/id/expires_at; those three are checked against the response model instead.
_ECHO_KEYS = {"session.object", "session.id", "session.expires_at"}
TIMEOUT = 5.0


def check_server_event(data: dict[str, Any]) -> Any:
    """Validate one server event strictly; returns the parsed official model."""
    event = SERVER_EVENTS.validate_python(data)
    extra = set(unknown_fields(event))
    if data["type"] in ("session.created", "session.updated"):
        extra -= _ECHO_KEYS
        check_session_echo(data["session"])
    assert not extra, f"{data['type']} has keys no official model declares: {sorted(extra)}"
    assert data["event_id"].startswith("event_")
    return event


def check_session_echo(session: dict[str, Any]) -> None:
    """The full session echo validates as the official response model with no unknown key."""
    model: Any = (
        RealtimeSessionCreateResponse
        if session["type"] == "realtime"
        else RealtimeTranscriptionSessionCreateResponse
    )
    parsed = model.model_validate(session)
    assert not list(unknown_fields(parsed)), list(unknown_fields(parsed))
    assert session["id"].startswith("sess_")


def check_client_secret(data: dict[str, Any]) -> None:
    """A client-secret answer validates as ``ClientSecretCreateResponse`` with no unknown key."""
    parsed = ClientSecretCreateResponse.model_validate(data)
    assert not list(unknown_fields(parsed)), list(unknown_fields(parsed))
    assert data["value"].startswith("ek_")


class EventReader:
    """Receives and checks server events from any source that yields raw JSON text."""

    def __init__(self, source: Callable[[], Awaitable[str | bytes]]) -> None:
        self._source = source
        self.seen: list[dict[str, Any]] = []

    async def next(self, within: float = TIMEOUT) -> dict[str, Any]:
        """The next event (checked)."""
        raw = await asyncio.wait_for(self._source(), within)
        data: dict[str, Any] = json.loads(raw)
        check_server_event(data)
        self.seen.append(data)
        return data

    async def until(self, event_type: str, within: float = TIMEOUT) -> list[dict[str, Any]]:
        """Events up to and including the first of ``event_type``."""
        out = []
        deadline = time.monotonic() + within
        while True:
            event = await self.next(max(0.01, deadline - time.monotonic()))
            out.append(event)
            if event["type"] == event_type:
                return out

    async def expect(self, event_type: str, within: float = TIMEOUT) -> dict[str, Any]:
        """The next event, which must be of ``event_type``."""
        event = await self.next(within)
        assert event["type"] == event_type, event
        return event

    async def nothing(self, wait: float = 0.2) -> None:
        """Assert that no event arrives within ``wait`` seconds."""
        try:
            event = await self.next(wait)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected event {event}")


def sdk_reader(connection: Any) -> EventReader:
    """An :class:`EventReader` over an openai SDK realtime connection (raw frames, not SDK parsing)."""
    return EventReader(connection.recv_bytes)
