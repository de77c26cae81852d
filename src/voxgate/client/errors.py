"""The client's errors. Everything it raises on purpose derives from :class:`RealtimeClientError`::

    RealtimeClientError
    ├── CallRejected        the calls URL (or a gateway) answered with an error status
    ├── ConnectTimeout      the peer connection or the event channel did not come up in time
    └── ConnectionClosed    the event channel is closed: no more events will arrive

Transport failures of the HTTP exchange are mapped once, in :mod:`voxgate.client.signaling`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CallRejected", "ConnectTimeout", "ConnectionClosed", "RealtimeClientError"]


class RealtimeClientError(Exception):
    """Base class of the client's errors."""


class CallRejected(RealtimeClientError):
    """An HTTP request of the call setup failed: ``status`` and the OpenAI-shaped ``error`` body, if any."""

    def __init__(self, status: int, message: str, *, code: str | None = None, body: Any = None) -> None:
        super().__init__(f"HTTP {status}: {message}" if status else message)
        self.status = status
        self.message = message
        self.code = code
        self.body = body


class ConnectTimeout(RealtimeClientError):
    """The call did not connect (ICE/DTLS/SCTP) within the allowed time."""


class ConnectionClosed(RealtimeClientError):
    """The ``oai-events`` channel is closed."""
