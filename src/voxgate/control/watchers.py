"""How the supervisor watches a call of each API: one small strategy per API, chosen by ``CallRecord.api``.

The supervisor's guarantees (a lease per call, attach within the deadline or hang up, re-attach after a
crash, one replica at a time) are the same for every API; what differs is where the sideband is, how
its events are read, and how a call is ended:

* GA Realtime: ``/realtime?call_id=`` and ``POST /realtime/calls/{id}/hangup``;
* GPT-Live: ``/live/sessions/{id}/attach``, ended with ``session.close`` on a sideband
  (:mod:`voxgate.control.live_watcher`).
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from voxgate.adapters.upstream import Sideband, Upstream
from voxgate.core.call_observer import Action, CallObserver
from voxgate.core.ledger import CallDetail, CallRecord
from voxgate.core.prices import PriceTable

__all__ = ["CallWatcher", "RealtimeWatcher", "SupervisedObserver"]


class SupervisedObserver(Protocol):
    """Reads one call's sideband: which frames matter (``parse``), and what each means (``feed``)."""

    def parse(self, raw: bytes) -> Any | None:
        """The frame as a typed event (with a ``type``) if the supervisor acts on it, else None."""
        ...

    def feed(self, event: Any) -> list[Action]:
        """The ledger actions one parsed event calls for, in order."""
        ...


class CallWatcher(Protocol):
    """What the supervisor needs to know about one API."""

    def sideband(self, upstream_call_id: str) -> AbstractAsyncContextManager[Sideband]:
        """Attach to the call (NotFound when it is over)."""
        ...

    def observer(self, call: CallRecord, detail: CallDetail | None) -> SupervisedObserver:
        """A fresh observer for ``call``, told what the ledger already has (after a re-attach)."""
        ...

    async def end(self, call: CallRecord, sideband: Sideband | None) -> None:
        """End the call upstream; ``sideband`` is this replica's own, when it watches the call."""
        ...


class RealtimeWatcher:
    """GA Realtime calls (``api == "realtime"``)."""

    def __init__(self, upstream: Upstream, prices: PriceTable, transcription_model: str | None) -> None:
        self._upstream = upstream
        self._prices = prices
        self._transcription_model = transcription_model

    def sideband(self, upstream_call_id: str) -> AbstractAsyncContextManager[Sideband]:
        """``/realtime?call_id=``."""
        return self._upstream.sideband(upstream_call_id)

    def observer(self, call: CallRecord, detail: CallDetail | None) -> CallObserver:
        """A :class:`CallObserver` that knows the items already recorded (so that only missing ones are
        fetched)."""
        return CallObserver(
            model=call.model,
            transcription_model=self._transcription_model,
            prices=self._prices,
            known_items=[item.item_id for item in detail.items] if detail else [],
        )

    async def end(self, call: CallRecord, sideband: Sideband | None) -> None:
        """``POST /realtime/calls/{id}/hangup`` (NotFound when it is over already)."""
        await self._upstream.hangup(call.upstream_call_id)
