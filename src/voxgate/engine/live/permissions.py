"""What an untrusted WebRTC frontend may send and see: ``session.client.data_channel`` (reference §7).

``"all"`` or an omitted list allows everything, ``[]`` nothing, otherwise exactly the listed client event
types and server event selectors (``{"type"}``, or ``{"type": "response.event", "response_event"}``).
Sidebands are trusted and never filtered.

Two choices the reference leaves open, made so a browser can always learn what went wrong: ``error`` and
``info`` reach the data channel whatever the list says, and a refused client event gets an ``error`` with
code ``forbidden`` naming the event (the session goes on).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from voxgate.errors import InvalidRequest

__all__ = ["Permissions"]

_ALWAYS_SHOWN = frozenset({"error", "info"})


@dataclass(frozen=True, slots=True)
class Permissions:
    """The data channel's allow-lists; None means everything."""

    client_events: frozenset[str] | None = None
    server_events: frozenset[tuple[str, str | None]] | None = None

    @classmethod
    def from_client(cls, client: Mapping[str, Any] | None) -> Permissions:
        """Read ``session.client`` (as parsed at startup)."""
        channel = (client or {}).get("data_channel") or {}
        sent, shown = channel.get("allowed_client_events", "all"), channel.get("allowed_server_events", "all")
        return cls(
            None if sent == "all" else frozenset(sent),
            None if shown == "all" else frozenset((s["type"], s.get("response_event")) for s in shown),
        )

    @property
    def restricted(self) -> bool:
        """True when either list narrows what the data channel carries."""
        return self.client_events is not None or self.server_events is not None

    def check_client(self, event_type: str) -> None:
        """Raise the documented refusal when the frontend may not send ``event_type``."""
        if self.client_events is not None and event_type not in self.client_events:
            raise InvalidRequest(
                f"The client event '{event_type}' is not allowed on this data channel "
                "(session.client.data_channel.allowed_client_events).",
                code="forbidden",
                param="type",
            )

    def shows(self, event: Mapping[str, Any]) -> bool:
        """True when the frontend may see ``event``."""
        kind = str(event.get("type"))
        if self.server_events is None or kind in _ALWAYS_SHOWN:
            return True
        nested = (event.get("event") or {}).get("type") if kind == "response.event" else None
        return (kind, nested) in self.server_events

    def describe(self) -> str:
        """The ``info{code: "data_channel_permissions"}`` message."""

        def listed(values: frozenset[Any] | None) -> str:
            if values is None:
                return "all"
            return (
                ", ".join(sorted(v if isinstance(v, str) else "/".join(filter(None, v)) for v in values))
                or "none"
            )

        return (
            f"Data channel permissions: client events allowed: {listed(self.client_events)}; "
            f"server events delivered: {listed(self.server_events)} (errors and notices always)."
        )
