"""The upstream interface the gateway talks to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from voxgate.errors import UpstreamNotConfigured

__all__ = ["ClientSecret", "UnconfiguredUpstream", "Upstream"]


@dataclass(frozen=True, slots=True)
class ClientSecret:
    """A minted ephemeral key (``ek_…``) and the session it carries, as the upstream returned them."""

    value: str
    expires_at: int
    session: dict[str, Any]


class Upstream(Protocol):
    """A Realtime API: OpenAI itself or a server that speaks its GA protocol."""

    #: Where a browser POSTs its SDP offer with a minted key.
    calls_url: str

    async def create_client_secret(
        self, *, session: dict[str, Any], ttl_seconds: int, safety_identifier: str | None = None
    ) -> ClientSecret:
        """Mint an ephemeral key for ``session``, valid for ``ttl_seconds`` (10–7200)."""
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

    async def create_client_secret(
        self, *, session: dict[str, Any], ttl_seconds: int, safety_identifier: str | None = None
    ) -> ClientSecret:
        raise UpstreamNotConfigured(self.message)

    async def hangup(self, call_id: str) -> None:
        raise UpstreamNotConfigured(self.message)

    async def check(self) -> None:
        raise UpstreamNotConfigured(self.message)

    async def aclose(self) -> None:
        return None
