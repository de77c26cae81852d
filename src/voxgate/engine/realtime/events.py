"""Builders for GA server events, each with a fresh ``event_…`` id.

Only GA names are produced (``conversation.item.added``/``done``, ``response.output_text.delta``…); the
beta names of reference §4.3 never appear. Every builder returns a plain JSON-ready dict.
"""

from __future__ import annotations

from typing import Any

from voxgate.engine.ids import new_id
from voxgate.errors import InvalidRequest, VoxgateError

__all__ = [
    "error_event",
    "item_event",
    "public_item",
    "rate_limits_updated",
    "server_event",
    "session_event",
    "session_expired",
]


def server_event(event_type: str, **fields: Any) -> dict[str, Any]:
    """A server event of ``event_type`` with a new ``event_id`` and the given fields."""
    return {"type": event_type, "event_id": new_id("event"), **fields}


def error_event(error: VoxgateError, client_event_id: str | None = None) -> dict[str, Any]:
    """An ``error`` event; ``client_event_id`` names the client event that caused it, when known."""
    return server_event("error", error={**error.to_dict(), "event_id": client_event_id})


def session_event(event_type: str, session: dict[str, Any]) -> dict[str, Any]:
    """``session.created`` or ``session.updated`` carrying the full effective session echo."""
    return server_event(event_type, session=session)


def session_expired(max_duration_s: float) -> dict[str, Any]:
    """The ``error`` that ends a session at its maximum duration (real text: "…of 60 minutes.")."""
    minutes = max_duration_s / 60
    span = f"{minutes:g} minutes" if minutes >= 1 else f"{max_duration_s:g} seconds"
    return error_event(
        InvalidRequest(f"Your session hit the maximum duration of {span}.", code="session_expired")
    )


def public_item(item: dict[str, Any]) -> dict[str, Any]:
    """An item as ``added``/``done``/``response.*`` events show it: audio bytes left out.

    The real server sends audio only in ``conversation.item.retrieved`` (reference §4.1).
    """
    content = item.get("content")
    if not isinstance(content, list):
        return dict(item)
    return {**item, "content": [{k: v for k, v in part.items() if k != "audio"} for part in content]}


def item_event(event_type: str, item: dict[str, Any], previous_item_id: str | None) -> dict[str, Any]:
    """``conversation.item.added`` or ``conversation.item.done`` for ``item``."""
    return server_event(event_type, previous_item_id=previous_item_id, item=public_item(item))


def rate_limits_updated(limit: int, remaining: int, reset_seconds: float) -> dict[str, Any]:
    """``rate_limits.updated`` with only the ``tokens`` entry, as the real server sent it (S7)."""
    return server_event(
        "rate_limits.updated",
        rate_limits=[
            {
                "name": "tokens",
                "limit": limit,
                "remaining": remaining,
                "reset_seconds": round(reset_seconds, 3),
            }
        ],
    )
