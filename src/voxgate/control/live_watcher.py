"""How the supervisor watches a GPT-Live call (``api == "live"``): its sideband and how it is ended.

A Live session is ended with ``session.close`` on a sideband, answered by ``session.closed`` (reference
openai-gpt-live.md §3, §6.1). The replica that watches the call sends it on its own sideband; any other
replica (a hang-up asked of it through the API) attaches briefly to send it, and leaves the recording of
the close to the watcher. Only when no sideband opens at all (a call voxgate cannot watch) does it fall
back to ``POST …/hangup``, which the docs name for SIP calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from contextlib import AbstractAsyncContextManager

from voxgate.adapters.upstream import Sideband
from voxgate.adapters.upstream.live import LiveUpstream
from voxgate.control.live_observer import LiveObserver
from voxgate.core.ledger import CallDetail, CallRecord
from voxgate.core.prices import PriceTable
from voxgate.errors import NotFound, UpstreamError

__all__ = ["LiveWatcher", "close_event"]

log = logging.getLogger("voxgate.supervisor")

#: How long a replica that does not watch the call waits for ``session.closed`` after its close.
CLOSE_WAIT_S = 5.0


def close_event() -> dict[str, str]:
    """A ``session.close`` client event, with an id its ``session.closed`` echoes as ``client_event_id``."""
    return {"type": "session.close", "event_id": f"vg-close-{secrets.token_hex(6)}"}


class LiveWatcher:
    """GPT-Live sessions, through a :class:`~voxgate.adapters.upstream.live.LiveUpstream`."""

    def __init__(self, upstream: LiveUpstream, prices: PriceTable) -> None:
        self._upstream = upstream
        self._prices = prices

    def sideband(self, upstream_call_id: str) -> AbstractAsyncContextManager[Sideband]:
        """``/live/sessions/{id}/attach``."""
        return self._upstream.sideband(upstream_call_id)

    def observer(self, call: CallRecord, detail: CallDetail | None) -> LiveObserver:
        """A :class:`LiveObserver` that continues the call's last recorded turn (after a re-attach)."""
        last = detail.items[-1] if detail and detail.items else None
        return LiveObserver(model=call.model, prices=self._prices, last_item=last)

    async def end(self, call: CallRecord, sideband: Sideband | None) -> None:
        """``session.close`` on ``sideband``, or on a sideband of its own held until ``session.closed``
        (:class:`~voxgate.errors.NotFound` when the session is over)."""
        if sideband is not None:
            try:
                await sideband.send(close_event())
                return
            except UpstreamError:
                pass  # that sideband is closing (the session may be over already): ask on a fresh one
        try:
            async with self._upstream.sideband(call.upstream_call_id) as own:
                await own.send(close_event())
                with contextlib.suppress(TimeoutError, UpstreamError):
                    async with asyncio.timeout(CLOSE_WAIT_S):
                        async for raw in own.events():
                            if b'"session.closed"' in raw:
                                return
                log.warning("call %s: no session.closed within %g s of session.close", call.id, CLOSE_WAIT_S)
        except NotFound:
            raise
        except UpstreamError as exc:
            log.warning("call %s: no sideband to close it (%s); hanging it up", call.id, exc.message)
            await self._upstream.hangup(call.upstream_call_id)
