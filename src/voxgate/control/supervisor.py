"""The supervisor: a sideband on every live call, held by exactly one replica at a time.

For each call it takes the call's lease (Redis or SQL), attaches to the call's sideband, and records what
the call says (items, transcripts, usage, cost) in the ledger through a
:class:`~voxgate.core.call_observer.CallObserver`. A call it cannot attach to within ``attach_timeout_s``
is hung up: voxgate runs no call it cannot watch. A lost sideband is re-attached with backoff; a call the
upstream no longer knows is recorded as ended.

Replicas are stateless: every ``scan_interval_s`` each one looks for live calls in the ledger that nobody
watches (their lease expired: a replica died) and takes them over. Shutdown detaches without ending calls
and releases the leases, so another replica re-attaches at its next scan.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from voxgate.adapters import metrics
from voxgate.adapters.leases import LeaseStore
from voxgate.adapters.upstream import Sideband, Upstream
from voxgate.control.budget_guard import BudgetGuard
from voxgate.control.watchers import CallWatcher, RealtimeWatcher, SupervisedObserver
from voxgate.core.call_observer import (
    RecordItem,
    RecordResponse,
    RecordTranscription,
    RecordUsage,
    RetrieveItem,
    SessionEnded,
)
from voxgate.core.ledger import CallRecord, Ledger, NewCall
from voxgate.core.prices import PriceTable
from voxgate.errors import NotFound, VoxgateError

__all__ = ["Supervisor", "SupervisorConfig", "replica_name"]

log = logging.getLogger("voxgate.supervisor")


def replica_name() -> str:
    """A name for this process among the replicas (host, pid and a random part)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(frozen=True, slots=True)
class SupervisorConfig:
    """Timings (seconds) and the defaults a call's observer starts from."""

    attach_timeout_s: float = 5.0
    lease_ttl_s: float = 6.0
    heartbeat_s: float = 2.0
    scan_interval_s: float = 2.0
    transcription_model: str | None = None


class _Unwatchable(Exception):
    """The sideband could not be (re-)attached in time."""


class Supervisor:
    """Owns one watch task per call it supervises, and the scan that finds unwatched calls."""

    def __init__(
        self,
        *,
        ledger: Ledger,
        leases: LeaseStore,
        upstream: Upstream,
        prices: PriceTable,
        config: SupervisorConfig,
        replica: str | None = None,
        watchers: Mapping[str, CallWatcher] | None = None,
    ) -> None:
        self.ledger = ledger
        self.replica = replica or replica_name()
        self._leases = leases
        self._upstream = upstream
        self._prices = prices
        self._config = config
        self._watches: dict[str, asyncio.Task[None]] = {}
        # How each API's calls are attached to, read and ended, by CallRecord.api ("realtime", "live").
        self._watchers: dict[str, CallWatcher] = {
            "realtime": RealtimeWatcher(upstream, prices, config.transcription_model),
            **(watchers or {}),
        }
        # The sideband this replica holds on each call it watches (a Live call is ended through it).
        self._sidebands: dict[str, Sideband] = {}
        # Calls this replica hung up itself: when their sideband closes there is nothing to re-attach to.
        self._hung_up: set[str] = set()
        self._scan: asyncio.Task[None] | None = None
        #: Told of each call this replica attaches to (tests and metrics listen here).
        self.on_attached: Callable[[CallRecord], Awaitable[None] | None] | None = None
        #: Budgets and time limits on every watched call (set by the composition root).
        self.guard: BudgetGuard | None = None

    # ---- lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the scan (its first pass re-attaches to the calls the ledger says are live)."""
        if self._scan is None:
            self._scan = asyncio.create_task(self._scan_loop(), name="supervisor-scan")

    async def aclose(self) -> None:
        """Detach from every call without ending it, and free their leases for another replica."""
        tasks = [t for t in (self._scan, *self._watches.values()) if t is not None]
        self._scan = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def watching(self) -> frozenset[str]:
        """Ids of the calls this replica is watching now."""
        return frozenset(self._watches)

    # ---- what the web layer asks ---------------------------------------------------------------------

    def watch(self, call: CallRecord, *, new: bool = False) -> None:
        """Supervise ``call`` from now on (if no other replica does). ``new``: the call was opened just
        now, so nothing about it is on record yet (its watch need not read the ledger first)."""
        if call.id in self._watches or not call.live:
            return
        task = asyncio.create_task(self._supervise(call, new), name=f"supervise-{call.id}")
        self._watches[call.id] = task
        task.add_done_callback(functools.partial(self._forget_watch, call.id))

    def _forget_watch(self, call_id: str, task: asyncio.Task[None]) -> None:
        if self._watches.get(call_id) is task:
            del self._watches[call_id]

    async def adopt(self, user_id: int, upstream_call_id: str, client_ip: str | None) -> CallRecord | None:
        """Record and watch a call a console opened itself (ephemeral mode) and reported.

        The first owner recorded keeps the call: a report of somebody else's call id gains nothing and
        returns None.
        """
        existing = await self.ledger.get_call_by_upstream(upstream_call_id)
        if existing is not None:
            return existing if existing.user_id == user_id else None
        call = await self.ledger.open_call(
            NewCall(upstream_call_id, user_id, "ephemeral", model=None, voice=None, client_ip=client_ip)
        )
        if call.user_id != user_id:
            return None
        self.watch(call, new=True)
        return call

    async def hangup(self, call: CallRecord, reason: str) -> None:
        """End ``call`` upstream and in the ledger (whichever replica watches it sees its sideband close).
        The upstream end is tried even when the ledger cannot be written (its error is raised after)."""
        try:
            await self.ledger.end_call(call.id, reason)
        finally:
            metrics.hung_up(reason)
            if call.id in self._watches:
                self._hung_up.add(call.id)
            with contextlib.suppress(NotFound):
                await self._watcher(call).end(call, self._sidebands.get(call.id))

    def _watcher(self, call: CallRecord) -> CallWatcher:
        return self._watchers.get(call.api) or self._watchers["realtime"]

    # ---- one call ------------------------------------------------------------------------------------

    async def _supervise(self, call: CallRecord, new: bool = False) -> None:
        lease = f"call:{call.id}"
        if not await self._leases.acquire(lease, self.replica, self._config.lease_ttl_s):
            return  # another replica watches it
        watch = asyncio.current_task()
        assert watch is not None
        heartbeat = asyncio.create_task(self._heartbeat(lease, watch), name=f"lease-{call.id}")
        metrics.call_started()
        ended = False  # False: detached (shutdown, lost lease), the call goes on elsewhere
        try:
            await self._watch(call, new)
            ended = True
        finally:
            metrics.call_ended(metrics.seconds_since(call.started_at) if ended else None)
            self._hung_up.discard(call.id)
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)
            with contextlib.suppress(Exception):
                await asyncio.shield(self._leases.release(lease, self.replica))
            if self.guard is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self.guard.detached(call))

    async def _heartbeat(self, lease: str, watch: asyncio.Task[None]) -> None:
        while True:
            await asyncio.sleep(self._config.heartbeat_s)
            try:
                held = await self._leases.renew(lease, self.replica, self._config.lease_ttl_s)
            except Exception:
                log.warning("could not renew %s; will retry", lease, exc_info=True)
                continue
            if not held:
                log.warning("lost %s to another replica; detaching", lease)
                watch.cancel()
                return

    async def _watch(self, call: CallRecord, new: bool = False) -> None:
        detail = None if new else await self.ledger.call_detail(call.id)
        observer = self._watcher(call).observer(call, detail)
        # A call with something on record was watched before (a lost sideband, a dead replica's call):
        # even this replica's first attach to it counts as a re-attach.
        attached_before = bool(detail and (detail.items or detail.responses))
        while True:
            try:
                async with contextlib.AsyncExitStack() as stack:
                    started = time.monotonic()
                    sideband = await self._attach(call, stack)
                    metrics.supervisor_attached(time.monotonic() - started, again=attached_before)
                    attached_before = True
                    log.info("call %s: sideband attached (replica %s)", call.id, self.replica)
                    if self.guard is not None:
                        await self.guard.attached(call, sideband.send)
                    if self.on_attached is not None:
                        result = self.on_attached(call)
                        if result is not None:
                            await result
                    self._sidebands[call.id] = sideband
                    try:
                        if await self._consume(call, sideband, observer):
                            return
                    finally:
                        self._sidebands.pop(call.id, None)
                if call.id in self._hung_up:
                    return  # this replica ended it: the ledger already says so
            except NotFound:
                await self.ledger.end_call(call.id, "upstream_closed")
                log.info("call %s: ended upstream", call.id)
                return
            except _Unwatchable as exc:
                metrics.supervisor_attach_failed("unwatchable")
                log.error("call %s: no sideband (%s); hanging it up", call.id, exc)
                await self.hangup(call, "unwatchable")
                return
            except VoxgateError as exc:
                log.warning("call %s: sideband lost (%s); re-attaching", call.id, exc.message)

    async def _attach(self, call: CallRecord, stack: contextlib.AsyncExitStack) -> Sideband:
        """Attach, retrying with backoff for up to ``attach_timeout_s``; NotFound passes through."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._config.attach_timeout_s
        delay = 0.1
        while True:
            try:
                async with asyncio.timeout(max(0.05, deadline - loop.time())):
                    return await stack.enter_async_context(
                        self._watcher(call).sideband(call.upstream_call_id)
                    )
            except NotFound:
                raise
            except (VoxgateError, TimeoutError) as exc:
                reason = exc.message if isinstance(exc, VoxgateError) else "timed out"
                if loop.time() + delay >= deadline:
                    raise _Unwatchable(reason) from None
                log.info("call %s: sideband not attached yet (%s); retrying", call.id, reason)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    async def _consume(self, call: CallRecord, sideband: Sideband, observer: SupervisedObserver) -> bool:
        """Record the call's events until the sideband closes. True if the session ended for good."""
        async for raw in sideband.events():
            event = observer.parse(raw)
            if event is None:
                continue
            try:
                if await self._apply(call, sideband, observer, event):
                    return True
            except NotFound:
                log.info("call %s: deleted from the ledger; detaching", call.id)
                return True
        return False

    async def _apply(
        self, call: CallRecord, sideband: Sideband, observer: SupervisedObserver, event: Any
    ) -> bool:
        """Carry out what one event means for the ledger. True if the session ended."""
        for action in observer.feed(event):
            if isinstance(action, RecordItem):
                await self.ledger.record_item(call.id, action.item)
            elif isinstance(action, RecordResponse):
                await self.ledger.record_response(call.id, action.response)
                metrics.response_recorded(action.response)
            elif isinstance(action, RecordUsage):
                await self.ledger.record_usage(call.id, action.usage)
            elif isinstance(action, RecordTranscription):
                await self.ledger.record_transcription(call.id, action.transcription)
                metrics.transcription_recorded(action.transcription)
            elif isinstance(action, RetrieveItem):
                await sideband.send({"type": "conversation.item.retrieve", "item_id": action.item_id})
            elif isinstance(action, SessionEnded):
                await self.ledger.end_call(call.id, action.reason)
                return True
        if self.guard is not None:
            await self.guard.on_event(call, event.type)
        return False

    # ---- replicas ------------------------------------------------------------------------------------

    async def _scan_loop(self) -> None:
        while True:
            # Sleep first: a query started at startup and cancelled by a quick shutdown left aiosqlite's
            # thread answering a closed loop (a flaky teardown error).
            await asyncio.sleep(self._config.scan_interval_s)
            try:
                for call in await self.ledger.live_calls():
                    self.watch(call)
            except Exception:
                log.warning("could not scan the ledger for unwatched calls", exc_info=True)
