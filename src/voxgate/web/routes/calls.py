"""What the browser console tells voxgate about its calls: connect outcomes and timings, and call ends."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from voxgate.core.accounts import ClientReport
from voxgate.errors import NotFound, RateLimited
from voxgate.web.auth import authenticate, services_of

router = APIRouter(prefix="/api", tags=["calls"])

CALL_ID = r"^rtc_[A-Za-z0-9_]{1,96}$"
StepName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,40}$")]


class ClientMetrics(BaseModel):
    """One report from the console: how a connect (or renewal, or reconnect) went, step by step."""

    model_config = ConfigDict(extra="forbid")
    event: Literal["connect", "reconnect", "renew", "end"]
    outcome: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")] = "ok"
    error_code: Annotated[str | None, Field(max_length=64)] = None
    call_id: Annotated[str | None, Field(pattern=CALL_ID)] = None
    attempt: Annotated[int, Field(ge=0, le=1000)] = 0
    steps: Annotated[dict[StepName, Annotated[float, Field(ge=0, le=3_600_000)]], Field(max_length=24)] = (
        Field(
            default_factory=dict,
            description="Milliseconds per step, e.g. {'token_ms': 2.5, 'session_updated_ms': 180}.",
        )
    )


@router.post("/client-metrics", status_code=204)
async def client_metrics(body: ClientMetrics, request: Request) -> Response:
    """Record a connect outcome and its step timings (used by voxgate's metrics)."""
    services = services_of(request)
    user = (await authenticate(request)).user
    decision = await services.limiter.hit(services.report_limits, "reports", str(user.id))
    if not decision.allowed:
        raise RateLimited("Too many reports; slow down.", retry_after=decision.retry_after)
    await services.accounts.record_client_report(
        ClientReport(
            user.id, body.event, body.outcome, body.error_code, body.call_id, body.attempt, body.steps
        )
    )
    return Response(status_code=204)


@router.post("/calls/{call_id}/hangup", status_code=204)
async def hangup(request: Request, call_id: Annotated[str, Path(pattern=CALL_ID)]) -> Response:
    """End a call the signed-in user reported holding (the browser cannot: hangup needs the server's key)."""
    services = services_of(request)
    user = (await authenticate(request)).user
    if not (user.is_admin or await services.accounts.user_reported_call(user.id, call_id)):
        raise NotFound(f"You have no call '{call_id}'.", code="call_not_found", param="call_id")
    await services.upstream.hangup(call_id)
    return Response(status_code=204)
