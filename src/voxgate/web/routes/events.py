"""``GET /api/calls/{id}/events``: a live call's cost, warnings and end, as server-sent events.

In relay mode with OpenAI the data channel runs between the browser and OpenAI, so the page learns what
voxgate decided about its call (a budget warning, the reason it ended, when the budget resets) from here.
Every replica can serve the stream: it reads the ledger and the call's notices, which the replica that
watches the call writes. The stream ends after the ``ended`` event.

Events: ``budget`` (the user's limits and what is left, once), ``cost`` (when it changes), ``warning``,
``instruction`` and ``ended`` (``reason``, and for a budget its ``limit``, ``resets_at`` and ``words``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from voxgate.core.ledger import CallRecord
from voxgate.web.auth import authenticate, services_of
from voxgate.web.routes.calls import CallId, _owned_call
from voxgate.web.services import Services

router = APIRouter(prefix="/api", tags=["calls"])

#: How often the stream looks at the ledger, in seconds.
POLL_S = 0.5
#: A comment line this often keeps proxies from closing a quiet stream.
KEEPALIVE_S = 15.0


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def _stream(request: Request, services: Services, call: CallRecord) -> AsyncIterator[str]:
    budget = services.budget
    assert budget is not None
    standing = await budget.admission.standing(call.user_id)
    yield _event("budget", {"limits": [{**s.to_dict(), "words": s.words} for s in standing]})
    last_cost: str | None = None
    last_notice = 0
    quiet = 0.0
    while True:
        current = await services.ledger.get_call(call.id)
        cost = str(await budget.budgets.call_cost(call.id))
        if cost != last_cost:
            last_cost = cost
            yield _event("cost", {"cost_usd": cost, "simulated": services.simulated_cost})
        ended: dict[str, Any] | None = None
        for notice in await budget.notices.since(call.id, last_notice):
            last_notice = notice.id
            if notice.kind == "ended":
                ended = notice.data
            else:
                yield _event(notice.kind, notice.data)
        if current is None or not current.live:
            if ended is None:
                # The replica that ended it writes why just after the ledger's end: give it a moment.
                await asyncio.sleep(POLL_S)
                later = [
                    n.data for n in await budget.notices.since(call.id, last_notice) if n.kind == "ended"
                ]
                ended = later[0] if later else None
            reason = current.end_reason if current else "deleted"
            yield _event("ended", {"reason": reason, **(ended or {})})
            return
        if await request.is_disconnected():
            return
        await asyncio.sleep(POLL_S)
        quiet += POLL_S
        if quiet >= KEEPALIVE_S:
            quiet = 0.0
            yield ": keepalive\n\n"


@router.get(
    "/calls/{call_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, 401: {}, 404: {}},
)
async def call_events(request: Request, call_id: CallId) -> StreamingResponse:
    """Server-sent events about a call: cost, budget warnings, why it ended (its owner and admins)."""
    services = services_of(request)
    user = (await authenticate(request)).user
    call = await _owned_call(services, user, call_id)
    return StreamingResponse(
        _stream(request, services, call),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
