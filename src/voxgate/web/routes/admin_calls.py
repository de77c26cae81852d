"""The admin API for calls in progress and the audit log: live calls (user, model, started, duration, cost
so far), ending one, adding an instruction to its live session through the sideband, and the mint and
relay attempts (who, when, outcome) with paging and filters. Admins only.

Ending and instructing work whichever replica watches the call: ending hangs the call up upstream (its
watcher sees the sideband close), and an instruction waits in the call's notices until its watcher's
sweep sends it as a ``session.update`` (within half a second).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from voxgate.adapters.sql.admin import AdminStore
from voxgate.errors import NotFound
from voxgate.web.routes.admin import admin_services, budget_of
from voxgate.web.routes.calls import CallId

router = APIRouter(prefix="/api/admin", tags=["admin"])


class Instruction(BaseModel):
    """An instruction for the live session: added to the policy's instructions, or replacing them."""

    model_config = ConfigDict(extra="forbid")
    instructions: str = Field(min_length=1, max_length=4000, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$")
    mode: Literal["append", "replace"] = "append"


@router.get("/calls/live")
async def live_calls(request: Request) -> dict[str, Any]:
    """Every live call with its user, model, start, duration and cost so far."""
    services, _ = await admin_services(request)
    budget = budget_of(services)
    now = datetime.now(UTC)
    rows = []
    for call in await AdminStore(services.db).live_calls():
        rows.append(
            {
                "id": call.id,
                "user": call.user_name,
                "model": call.model,
                "mode": call.mode,
                "started_at": call.started_at.isoformat().replace("+00:00", "Z"),
                "duration_s": round((now - call.started_at).total_seconds(), 1),
                "cost_usd": str(await budget.budgets.call_cost(call.id)),
                "simulated": services.simulated_cost,
            }
        )
    return {"data": rows}


async def _live_call(request: Request, call_id: str) -> Any:
    services, _ = await admin_services(request)
    call = await services.ledger.get_call(call_id)
    if call is None or not call.live:
        raise NotFound(f"No live call '{call_id}'.", code="call_not_found", param="call_id")
    return services, call


@router.post("/calls/{call_id}/end", status_code=204)
async def end_call(call_id: CallId, request: Request) -> Response:
    """End a live call; its page is told an administrator ended it."""
    services, call = await _live_call(request, call_id)
    await budget_of(services).guard.end(call, "admin_ended")
    return Response(status_code=204)


@router.post("/calls/{call_id}/instructions", status_code=202)
async def instruct(call_id: CallId, body: Instruction, request: Request) -> dict[str, Any]:
    """Give the live session an instruction (sent on its sideband by the replica that watches it)."""
    services, call = await _live_call(request, call_id)
    notice = await budget_of(services).notices.add(
        call.id, "instruct", {"instructions": body.instructions, "mode": body.mode}, pending=True
    )
    return {"id": notice, "call_id": call.id, "status": "pending"}


@router.get("/audit")
async def audit(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Annotated[int | None, Query(ge=1, description="The last id of the previous page.")] = None,
    user: Annotated[str | None, Query(max_length=200)] = None,
    outcome: Annotated[str | None, Query(max_length=64)] = None,
    failed: bool = False,
) -> dict[str, Any]:
    """Mint and relay attempts, newest first, a page at a time."""
    services, _ = await admin_services(request)
    user_id = (await services.accounts.get_user(user)).id if user else None
    rows = await AdminStore(services.db).audit(
        limit=limit + 1, before_id=before, user_id=user_id, outcome=outcome, failed_only=failed
    )
    page = rows[:limit]
    more = len(rows) > limit
    return {"data": [r.to_dict() for r in page], "has_more": more, "next": page[-1].id if more else None}
