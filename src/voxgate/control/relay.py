"""The relay: a browser's SDP offer goes upstream with the server's key, and the call is recorded and
watched before the browser has its answer.

No upstream credential and no upstream URL reach the browser: it gets the SDP answer and voxgate's own
call id. A call that cannot be recorded is hung up again at once (voxgate runs no call it cannot see).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from voxgate.adapters.upstream import Upstream
from voxgate.control.supervisor import Supervisor
from voxgate.core.credentials import safety_identifier
from voxgate.core.ledger import CallRecord, NewCall

__all__ = ["RelayedCall", "relay_offer"]

log = logging.getLogger("voxgate.relay")


@dataclass(frozen=True, slots=True)
class RelayedCall:
    """What the browser is told (the answer) and what voxgate keeps (the call)."""

    call: CallRecord
    answer_sdp: str


def _voice(session: dict[str, Any]) -> str | None:
    voice = session.get("audio", {}).get("output", {}).get("voice")
    return voice if isinstance(voice, str) else None


async def relay_offer(
    *,
    upstream: Upstream,
    supervisor: Supervisor,
    user_id: int,
    sdp: str,
    session: dict[str, Any],
    client_ip: str | None,
    watch: bool = True,
    call_id: str | None = None,
    api_key_id: int | None = None,
) -> RelayedCall:
    """Create the call upstream, record it, and return the SDP answer.

    The call is recorded before the answer is returned, so no browser can connect to a call the ledger
    does not know. With ``watch`` the supervisor starts on it at once; a web route passes False and
    calls :meth:`Supervisor.watch` once the answer is on its way (the attach then does not compete with
    the answer for the event loop; the 1 s attach bound leaves room for it).
    """
    created = await upstream.create_call(
        sdp=sdp, session=session, safety_identifier=safety_identifier(user_id)
    )
    try:
        call = await supervisor.ledger.open_call(
            NewCall(
                upstream_call_id=created.call_id,
                user_id=user_id,
                mode="relay",
                model=session.get("model"),
                voice=_voice(session),
                client_ip=client_ip,
                call_id=call_id,
                api_key_id=api_key_id,
            )
        )
    except BaseException:
        log.error("could not record call %s; hanging it up", created.call_id)
        with contextlib.suppress(Exception):
            await upstream.hangup(created.call_id)
        raise
    if watch:
        supervisor.watch(call, new=True)
    return RelayedCall(call=call, answer_sdp=created.answer_sdp)
