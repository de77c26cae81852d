"""Builders for GPT-Live server events (reference §5.2). Every builder returns a JSON-ready dict.

Every event carries a fresh ``event_…`` id except the two raw audio events, and ``type`` comes first, so
a reader can tell a reflected-audio frame from its first bytes. Acknowledgements echo the client's
``event_id`` as ``client_event_id``; an ``error`` carries it twice (top level and inside ``error``), and
its ``code`` is always a string.
"""

from __future__ import annotations

import base64
from typing import Any

from voxgate.engine.ids import new_id
from voxgate.errors import VoxgateError

__all__ = ["audio_delta", "error_event", "live_event", "reflected_input"]


def live_event(event_type: str, client_event_id: str | None = None, **fields: Any) -> dict[str, Any]:
    """A server event of ``event_type`` with a new ``event_id`` (and the acknowledged client event)."""
    event: dict[str, Any] = {"type": event_type, "event_id": new_id("event"), **fields}
    if client_event_id is not None:
        event["client_event_id"] = client_event_id
    return event


def error_event(error: VoxgateError, client_event_id: str | None = None) -> dict[str, Any]:
    """The ``error`` event for ``error``, naming the client event that caused it when known."""
    body: dict[str, Any] = {
        "type": error.error_type,
        "code": error.code or error.error_type,
        "message": error.message,
        "param": error.param,
    }
    if client_event_id is not None:
        body["client_event_id"] = client_event_id
    return live_event("error", client_event_id, error=body)


def audio_delta(audio: bytes, start_ms: int | None = None, end_ms: int | None = None) -> dict[str, Any]:
    """``session.output_audio.delta`` (no ``event_id``); the times are set on a sideband's reflection."""
    event: dict[str, Any] = {"type": "session.output_audio.delta", "delta": base64.b64encode(audio).decode()}
    if start_ms is not None and end_ms is not None:
        event["start_ms"], event["end_ms"] = start_ms, end_ms
    return event


def reflected_input(pcm16_24k: bytes) -> dict[str, Any]:
    """A sideband's copy of the input audio (``session.input_audio.append``: no id, no times)."""
    return {"type": "session.input_audio.append", "audio": base64.b64encode(pcm16_24k).decode()}
