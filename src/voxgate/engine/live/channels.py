"""Where a Live session's events go: one primary channel, any number of sidebands, in order.

The primary is the WebRTC data channel (filtered by the session's ``client.data_channel`` permissions)
or the primary WebSocket; sidebands are trusted and see everything, plus what is sent to them alone (the
reflected audio). Every event goes through one outbox drained by one writer task, so events keep their
order whether they come from the synchronous audio path or from a task, and :meth:`Channels.flush`
returns once all of them are written (``session.closed`` before the sockets close).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping
from typing import Any

from voxgate.engine.live.permissions import Permissions
from voxgate.engine.ports import Sink

__all__ = ["Channels"]

log = logging.getLogger(__name__)
FLUSH_TIMEOUT_S = 5.0
# Events waiting for a channel that does not keep up (a client that sends audio but never reads) are
# capped: past this much, new events other than the last one are dropped, as a lossy network would.
MAX_PENDING_BYTES = 16 * 1024 * 1024


class Channels:
    """The primary sink, the sidebands and the writer between them and the session."""

    def __init__(self, name: str, permissions: Permissions | None) -> None:
        self._name = name
        self._permissions = permissions  # None: the primary is not filtered (a WebSocket)
        self.primary: Sink | None = None
        self.sidebands: list[Sink] = []
        # (text, a sink of its own or None, to the primary, to the sidebands); None ends the writer.
        self._outbox: asyncio.Queue[tuple[str, Sink | None, bool, bool] | None] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._pending = 0  # bytes of text queued and not yet written
        self.dropped = 0  # events dropped because a channel did not keep up
        self.sealed = False

    def send(self, event: Mapping[str, Any], *, primary: bool = True, sideband: bool = True) -> None:
        """Queue ``event`` for the primary (if its permissions show it) and the sidebands."""
        if self.sealed:
            return
        if primary and self._permissions is not None:
            primary = self._permissions.shows(event)
        text = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
        if self._pending + len(text) > MAX_PENDING_BYTES and event.get("type") != "session.closed":
            if not self.dropped:
                log.warning(
                    "%s: a channel is not reading; events are dropped until it catches up", self._name
                )
            self.dropped += 1
            return
        self._queue(text, None, primary, sideband)

    def send_to(self, sink: Sink, event: Mapping[str, Any]) -> None:
        """Queue ``event`` for one sink only (a sideband's replay on attach)."""
        if not self.sealed:
            self._queue(json.dumps(event, separators=(",", ":"), ensure_ascii=False), sink, False, False)

    def _queue(self, text: str, sink: Sink | None, primary: bool, sideband: bool) -> None:
        self._pending += len(text)
        self._outbox.put_nowait((text, sink, primary, sideband))
        if self._writer is None:
            self._writer = asyncio.ensure_future(self._write())

    async def _write(self) -> None:
        while (entry := await self._outbox.get()) is not None:
            text, direct, primary, sideband = entry
            self._pending -= len(text)
            targets = [direct] if direct is not None else []
            targets += [self.primary] if primary and self.primary is not None else []
            targets += list(self.sidebands) if sideband else []
            for sink in targets:
                try:
                    await sink(text)
                except Exception:  # a peer gone mid-send: its transport notices and closes
                    log.debug("%s: dropping a sink", self._name, exc_info=True)
                    if sink is self.primary:
                        self.primary = None
                    self.detach(sink)

    def detach(self, sink: Sink) -> None:
        """Stop sending to a sideband."""
        with contextlib.suppress(ValueError):
            self.sidebands.remove(sink)

    async def flush(self) -> None:
        """Write everything queued, then accept nothing more."""
        self.sealed = True
        if self._writer is None:
            return
        self._outbox.put_nowait(None)
        # A peer that stopped reading must not hold the session open: what it has not taken is dropped.
        done, _ = await asyncio.wait({self._writer}, timeout=FLUSH_TIMEOUT_S)
        if not done:
            log.info("%s: a channel did not take the last events within %ss", self._name, FLUSH_TIMEOUT_S)
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)

    async def aclose(self) -> None:
        """Stop writing at once (what is still queued is dropped)."""
        self.sealed = True
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
