"""The upstream interface the gateway talks to."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from voxgate.adapters.upstream.health import UpstreamHealth
from voxgate.errors import UpstreamNotConfigured

__all__ = ["ClientSecret", "CreatedCall", "Sideband", "UnconfiguredUpstream", "Upstream"]


@dataclass(frozen=True, slots=True)
class ClientSecret:
    """A minted ephemeral key (``ek_…``) and the session it carries, as the upstream returned them."""

    value: str
    expires_at: int
    session: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CreatedCall:
    """A WebRTC call the upstream answered: its id (from ``Location``) and the SDP answer."""

    call_id: str
    answer_sdp: str


class Sideband(Protocol):
    """A server-held connection to a live call (``/realtime?call_id=``): its server events, as raw JSON
    bytes (parsed by :mod:`voxgate.protocol.sideband_events`), and a way to send client events."""

    def events(self) -> AsyncIterator[bytes]:
        """Every server event until the call (or the connection) ends; ends quietly on a normal close."""
        ...

    async def send(self, event: dict[str, Any]) -> None:
        """Send one client event (e.g. ``conversation.item.retrieve``)."""
        ...


class Upstream(Protocol):
    """A Realtime API: OpenAI itself or a server that speaks its GA protocol."""

    #: Where a browser POSTs its SDP offer with a minted key.
    calls_url: str
    #: What ``/readyz`` reads: the last outcome of real calls and of a background probe.
    health: UpstreamHealth

    async def create_client_secret(
        self, *, session: dict[str, Any], ttl_seconds: int, safety_identifier: str | None = None
    ) -> ClientSecret:
        """Mint an ephemeral key for ``session``, valid for ``ttl_seconds`` (10–7200)."""
        ...

    async def create_call(
        self, *, sdp: str, session: dict[str, Any], safety_identifier: str | None = None
    ) -> CreatedCall:
        """Relay an SDP offer (``POST /realtime/calls``, multipart ``sdp`` + ``session``) with the server's
        key. Raises :class:`~voxgate.errors.InvalidRequest` for an offer the upstream refused."""
        ...

    def sideband(self, call_id: str) -> AbstractAsyncContextManager[Sideband]:
        """Attach to a live call. Entering raises :class:`~voxgate.errors.NotFound` when the call is not
        live, or an :class:`~voxgate.errors.UpstreamError`."""
        ...

    async def hangup(self, call_id: str) -> None:
        """End a WebRTC call (``POST /realtime/calls/{call_id}/hangup``) with the server's key."""
        ...

    async def check(self) -> None:
        """Raise an :class:`~voxgate.errors.UpstreamError` unless the upstream answers with our key."""
        ...

    async def aclose(self) -> None:
        """Release connections (idempotent)."""
        ...


class UnconfiguredUpstream:
    """Stands in when nothing is configured, so the server still starts and says what to set."""

    calls_url = ""

    def __init__(self, message: str) -> None:
        self.message = message
        self.health = UpstreamHealth(self.check)

    async def create_client_secret(
        self, *, session: dict[str, Any], ttl_seconds: int, safety_identifier: str | None = None
    ) -> ClientSecret:
        raise UpstreamNotConfigured(self.message)

    async def create_call(
        self, *, sdp: str, session: dict[str, Any], safety_identifier: str | None = None
    ) -> CreatedCall:
        raise UpstreamNotConfigured(self.message)

    def sideband(self, call_id: str) -> AbstractAsyncContextManager[Sideband]:
        raise UpstreamNotConfigured(self.message)

    async def hangup(self, call_id: str) -> None:
        raise UpstreamNotConfigured(self.message)

    async def check(self) -> None:
        raise UpstreamNotConfigured(self.message)

    async def aclose(self) -> None:
        await self.health.aclose()
