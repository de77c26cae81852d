"""Let an answered call's ICE finish as soon as its check list completes, not on the next pacing tick.

aioice's ``Connection.connect()`` starts a connectivity check, sleeps 20 ms (the Ta timer of RFC 8445
§6.1.4.2), and loops for as long as a pair is left to start *or more remote candidates may come*; only
then does it look at whether the check list has completed. Browsers send their offer before their
candidates (``createOffer`` output has none, and nothing is trickled to a calls endpoint), so on the
answering side more candidates may always come: the loop runs on until the browser's nomination has
completed the list, and ``connect()`` returns on the tick after that. Measured against Chromium on
loopback: the nomination completed the list 3 ms after ICE started, ``connect()`` returned 15–17 ms
later, and DTLS waited for it. That was a third of the click → ``session.updated`` time
(``bench/bench_console.py``).

:func:`prompt_connect` gives one aioice connection a ``connect()`` that is aioice 0.13's own, step for
step, except that each 20 ms pause also ends when the check list completes or fails. It touches aioice's
private members, so it is installed only on the aioice it was written against; on any other version
ICE keeps aioice's own ``connect()`` (and a test says so).
"""

from __future__ import annotations

import asyncio
import logging
import types
from typing import Any

import aioice
from aioice.ice import ICE_COMPLETED, ICE_FAILED
from aiortc import RTCPeerConnection

__all__ = ["prompt_connect", "prompt_ice"]

log = logging.getLogger(__name__)
PACING_S = 0.02  # aioice's own Ta
# The aioice releases whose Connection.connect() _connect mirrors.
MIRRORED_VERSIONS = ("0.13.0",)


def prompt_ice(pc: RTCPeerConnection) -> int:
    """Give each ICE connection of ``pc`` a prompt ``connect()``; returns how many it changed.

    Call it after ``setRemoteDescription`` (which creates the transports) and before
    ``setLocalDescription`` of the answer (which starts ICE).
    """
    return sum(prompt_connect(connection) for connection in _ice_connections(pc))


def prompt_connect(connection: aioice.Connection) -> bool:
    """Replace ``connection.connect`` with the prompt one; False (nothing changed) on another aioice."""
    if aioice.__version__ not in MIRRORED_VERSIONS:
        log.debug("aioice %s: ICE keeps aioice's own connect()", aioice.__version__)
        return False
    connection.connect = types.MethodType(_connect, connection)  # type: ignore[method-assign]
    return True


async def _connect(self: Any) -> None:
    """aioice 0.13.0's ``Connection.connect()``; only the wait between checks differs (see the module)."""
    if not self._local_candidates_end:
        raise ConnectionError("Local candidates gathering was not performed")
    if self.remote_username is None or self.remote_password is None:
        raise ConnectionError("Remote username or password is missing")

    # Forming candidate pairs (RFC 8445 section 6.1.2.2), then the checks received before connect().
    for remote_candidate in self._remote_candidates:
        self._pair_remote_candidate(remote_candidate)
    self.sort_check_list()
    self._unfreeze_initial()
    for early_check in self._early_checks:
        self.check_incoming(*early_check)
    self._early_checks.clear()
    self._early_checks_done = True

    # Perform the checks, one more every 20 ms, until the check list completes or fails.
    outcome: asyncio.Task[int] = asyncio.ensure_future(self._check_list_state.get())
    try:
        while not outcome.done() and self._check_periodic():
            await asyncio.wait([outcome], timeout=PACING_S)
        if outcome.done():
            res = outcome.result()
        elif self._check_list:
            res = await outcome
        else:
            res = ICE_FAILED
    finally:
        outcome.cancel()

    # Cancel the remaining checks.
    for check in self._check_list:
        if check.task:
            check.task.cancel()
    if res != ICE_COMPLETED:
        raise ConnectionError("ICE negotiation failed")

    # Start consent freshness tests (RFC 7675).
    self._query_consent_task = asyncio.create_task(self.query_consent())


def _ice_connections(pc: RTCPeerConnection) -> list[aioice.Connection]:
    """The distinct aioice connections under ``pc``'s transceivers and SCTP transport (one when bundled)."""
    transports = [t.receiver.transport for t in pc.getTransceivers()]
    if pc.sctp is not None:
        transports.append(pc.sctp.transport)
    connections: list[aioice.Connection] = []
    for dtls in transports:
        connection = getattr(dtls.transport, "_connection", None)
        if isinstance(connection, aioice.Connection) and all(connection is not c for c in connections):
            connections.append(connection)
    return connections
