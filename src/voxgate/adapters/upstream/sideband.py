"""One attached sideband, Realtime's (``/realtime?call_id=``) or GPT-Live's (``…/attach``): the server's
events in as raw bytes, scrubbed of the server's key before anyone sees them; client events out.

A lost connection raises :class:`~voxgate.errors.UpstreamUnreachable`; a clean close ends the events.
Events larger than ``inline_bytes`` are scrubbed off the event loop (a turn's audio can be megabytes).
Events matching ``skip`` (GPT-Live reflects every audio chunk: most of its bytes, nothing voxgate records)
are dropped before they are even scrubbed.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any, Protocol

from websockets.exceptions import ConnectionClosed, ConnectionClosedOK

from voxgate.adapters.upstream.scrub import Scrubber
from voxgate.errors import UpstreamUnreachable

__all__ = ["INLINE_SCRUB_BYTES", "ScrubbedSideband"]

#: Events larger than this are scrubbed on a worker thread.
INLINE_SCRUB_BYTES = 256 * 1024


class _Connection(Protocol):
    """What the SDK's sideband connections (Realtime's and Live's) offer."""

    async def recv_bytes(self) -> bytes: ...

    async def send(self, event: Any) -> None: ...


class ScrubbedSideband:
    """Implements :class:`~voxgate.adapters.upstream.base.Sideband` over an SDK connection."""

    def __init__(
        self,
        connection: _Connection,
        scrubber: Scrubber,
        *,
        skip: re.Pattern[bytes] | None = None,
        inline_bytes: int = INLINE_SCRUB_BYTES,
    ) -> None:
        self._connection = connection
        self._scrubber = scrubber
        self._skip = skip
        self._inline_bytes = inline_bytes

    async def events(self) -> AsyncIterator[bytes]:
        """Raw events until the upstream closes; a lost connection raises :class:`UpstreamUnreachable`."""
        while True:
            try:
                raw = await self._connection.recv_bytes()
            except ConnectionClosedOK:
                return
            except ConnectionClosed:
                raise UpstreamUnreachable("The sideband connection was lost.") from None
            if self._skip is not None and self._skip.match(raw, 0, 64):
                continue
            if len(raw) > self._inline_bytes:
                yield await asyncio.to_thread(self._scrubber.json_bytes, raw)
            else:
                yield self._scrubber.json_bytes(raw)

    async def send(self, event: dict[str, Any]) -> None:
        """Send one client event."""
        try:
            await self._connection.send(event)
        except ConnectionClosed:
            raise UpstreamUnreachable("The sideband connection was lost.") from None
