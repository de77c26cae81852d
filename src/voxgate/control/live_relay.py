"""The GPT-Live relay: a browser's SDP offer becomes a Live session created with the server's key, and the
session is recorded before the browser has its answer (its creation charge just after).

GPT-Live has no client secrets, so this relay is the only way a browser reaches it without the key.
No upstream credential and no upstream URL reach the browser: it gets the SDP answer and voxgate's own
call id. A session that cannot be recorded is closed again at once (voxgate runs no call it cannot see).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from voxgate.adapters.upstream.live import LiveUpstream
from voxgate.control.live_observer import initial_usage
from voxgate.control.live_watcher import close_event
from voxgate.control.relay import RelayedCall
from voxgate.control.supervisor import Supervisor
from voxgate.core.ledger import CallRecord, NewCall
from voxgate.core.prices import PriceTable

__all__ = ["relay_live_offer", "start_watching"]

log = logging.getLogger("voxgate.relay")


def _voice(session: dict[str, Any]) -> str | None:
    voice = session.get("audio", {}).get("output", {}).get("voice")
    if isinstance(voice, dict):
        voice = voice.get("id")  # a custom voice
    return voice if isinstance(voice, str) else None


async def relay_live_offer(
    *,
    upstream: LiveUpstream,
    supervisor: Supervisor,
    prices: PriceTable,
    user_id: int,
    sdp: str,
    session: dict[str, Any],
    client_ip: str | None,
    watch: bool = True,
    call_id: str | None = None,
    api_key_id: int | None = None,
) -> RelayedCall:
    """Create the Live session upstream, record it, and return the SDP answer.

    The ledger row (api ``live``) is written before the answer is returned. With ``watch``
    :func:`start_watching` runs at once; a web route passes False and runs it once the answer is on its
    way. ``call_id`` is
    the id admission held a place under; ``api_key_id`` the key whose revocation ends the call.
    """
    created = await upstream.create_session(sdp=sdp, session=session)
    model = session.get("model")
    try:
        call = await supervisor.ledger.open_call(
            NewCall(
                upstream_call_id=created.call_id,
                user_id=user_id,
                mode="relay",
                model=model,
                voice=_voice(session),
                client_ip=client_ip,
                api="live",
                call_id=call_id,
                api_key_id=api_key_id,
            )
        )
    except BaseException:
        log.error("could not record Live session %s; closing it", created.call_id)
        with contextlib.suppress(Exception):
            async with upstream.sideband(created.call_id) as sideband:
                await sideband.send(close_event())
        raise
    if watch:
        await start_watching(supervisor, prices, call)
    return RelayedCall(call=call, answer_sdp=created.answer_sdp)


async def start_watching(supervisor: Supervisor, prices: PriceTable, call: CallRecord) -> None:
    """Supervise ``call`` and record its creation charge (nothing run yet, 15 s billed).

    The charge is written after the answer: it only shows early what the session's own usage reports
    will say (their cost never falls below it), so a process killed before writing it loses nothing.
    """
    supervisor.watch(call)
    await supervisor.ledger.record_usage(call.id, initial_usage(prices, call.model))
