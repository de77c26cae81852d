"""Calls: their history (list, read, export, delete), hanging one up, and what the browser console reports.

Who may touch a call comes from the ledger alone (the relay, or the supervisor's attach recorded its
owner), never from what a browser reports: its owner and admins may; to anyone else the call does not
exist (404 ``call_not_found``, never 403, so ids cannot be probed).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from voxgate.adapters import metrics
from voxgate.core import export
from voxgate.core.accounts import ClientReport, User
from voxgate.core.ledger import CALL_ID_PREFIX, CallDetail, CallRecord
from voxgate.errors import NotFound, PermissionDenied, RateLimited
from voxgate.web.auth import authenticate, client_ip, services_of
from voxgate.web.services import Services

router = APIRouter(prefix="/api", tags=["calls"])

VOXGATE_CALL_ID = r"^vgc_[0-9a-f]{24}$"
# Hangup also takes the upstream id, as it did before voxgate had ids of its own.
ANY_CALL_ID = r"^(vgc_[0-9a-f]{24}|rtc_[A-Za-z0-9_]{1,96})$"
# No control characters (PostgreSQL refuses NUL in text outright).
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
StepName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,40}$")]
CallId = Annotated[str, Path(pattern=VOXGATE_CALL_ID, description="voxgate's call id (vgc_…).")]


class ClientMetrics(BaseModel):
    """One report from the console: how a connect (or renewal, or reconnect) went, step by step."""

    model_config = ConfigDict(extra="forbid")
    event: Literal["connect", "reconnect", "renew", "end"]
    outcome: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")] = "ok"
    # Printable text only: control characters (NUL above all) have no place in a code, nor in the database.
    error_code: Annotated[str | None, Field(max_length=64, pattern=PRINTABLE)] = None
    call_id: Annotated[str | None, Field(pattern=ANY_CALL_ID)] = None
    attempt: Annotated[int, Field(ge=0, le=1000)] = 0
    steps: Annotated[dict[StepName, Annotated[float, Field(ge=0, le=3_600_000)]], Field(max_length=24)] = (
        Field(
            default_factory=dict,
            description="Milliseconds per step, e.g. {'token_ms': 2.5, 'session_updated_ms': 180}.",
        )
    )


@router.post("/client-metrics", status_code=204)
async def client_metrics(body: ClientMetrics, request: Request) -> Response:
    """Record a connect outcome and its step timings (used by voxgate's metrics).

    With the console on upstream ephemeral keys, a report naming a call is also how voxgate learns of the
    call: the supervisor then records it and watches it. A call someone else already holds stays theirs:
    reporting its id grants nothing.
    """
    services = services_of(request)
    user = (await authenticate(request)).user
    decision = await services.limiter.hit(services.report_limits, "reports", str(user.id))
    if not decision.allowed:
        raise RateLimited("Too many reports; slow down.", retry_after=decision.retry_after)
    metrics.client_reported(body.event, body.outcome, body.steps)
    await services.accounts.record_client_report(
        ClientReport(
            user.id, body.event, body.outcome, body.error_code, body.call_id, body.attempt, body.steps
        )
    )
    if services.settings.console_mode == "ephemeral" and body.call_id and body.call_id.startswith("rtc_"):
        # Any report naming a call, even a failed connect (the call may be up upstream while ICE
        # fails), is how voxgate learns of it: record it for the reporter and watch it.
        await services.supervisor.adopt(user.id, body.call_id, client_ip(request))
    return Response(status_code=204)


def _not_found(call_id: str) -> NotFound:
    return NotFound(f"No call '{call_id}'.", code="call_not_found", param="call_id")


def _may_access(user: User, call: CallRecord) -> bool:
    return user.is_admin or call.user_id == user.id


async def _owned_call(services: Services, user: User, call_id: str) -> CallRecord:
    """The call, if this user may touch it; otherwise 404 whether or not it exists."""
    if call_id.startswith(CALL_ID_PREFIX):
        call = await services.ledger.get_call(call_id)
    else:
        call = await services.ledger.get_call_by_upstream(call_id)
    if call is None or not _may_access(user, call):
        raise _not_found(call_id)
    return call


@router.get("/calls")
async def list_calls(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    before: Annotated[
        datetime | None, Query(description="Only calls started before this time (the last page's end).")
    ] = None,
    user: Annotated[
        str | None, Query(max_length=200, pattern=PRINTABLE, description="Admins: this user's calls.")
    ] = None,
    all_users: Annotated[bool, Query(alias="all", description="Admins: everyone's calls.")] = False,
) -> dict[str, Any]:
    """Your calls, newest first; page with ``before`` = the last listed call's ``started_at``."""
    services = services_of(request)
    me = (await authenticate(request)).user
    user_id: int | None = me.id
    if all_users or (user is not None and user != me.name):
        if not me.is_admin:
            raise PermissionDenied("Only admins may list other users' calls.", param="user")
        if user is not None:
            try:
                user_id = (await services.accounts.get_user(user)).id
            except NotFound as exc:
                raise NotFound(exc.message, code="user_not_found", param="user") from None
        else:
            user_id = None
    if before is not None and before.tzinfo is None:
        before = before.replace(tzinfo=UTC)
    summaries = list(await services.ledger.list_calls(user_id=user_id, limit=limit + 1, before=before))
    simulated = services.simulated_cost
    return {
        "data": [export.call_summary(s, simulated=simulated) for s in summaries[:limit]],
        "has_more": len(summaries) > limit,
    }


async def _readable_detail(request: Request, call_id: str) -> tuple[Services, CallDetail]:
    """The call's detail, if the caller may read it; otherwise 404 whether or not it exists."""
    services = services_of(request)
    user = (await authenticate(request)).user
    detail = await services.ledger.call_detail(call_id)
    if detail is None or not _may_access(user, detail.summary.call):
        raise _not_found(call_id)
    return services, detail


@router.get("/calls/{call_id}")
async def get_call(request: Request, call_id: CallId) -> dict[str, Any]:
    """One call: its transcript in conversation order, each response's usage and cost, and totals."""
    services, detail = await _readable_detail(request, call_id)
    return export.call_detail(detail, simulated=services.simulated_cost)


@router.get("/calls/{call_id}/export")
async def export_call(
    request: Request, call_id: CallId, fmt: Annotated[Literal["json", "md"], Query(alias="format")] = "json"
) -> Response:
    """The call as a file: JSON (what ``GET /api/calls/{id}`` answers) or a Markdown transcript."""
    services, detail = await _readable_detail(request, call_id)
    simulated = services.simulated_cost
    headers = {"Content-Disposition": f'attachment; filename="{export.export_filename(call_id, fmt)}"'}
    if fmt == "md":
        body, media_type = export.render_markdown(detail, simulated=simulated), "text/markdown; charset=utf-8"
    else:
        body, media_type = export.render_json(detail, simulated=simulated), "application/json"
    return Response(body, media_type=media_type, headers=headers)


@router.delete("/calls/{call_id}", status_code=204)
async def delete_call(request: Request, call_id: CallId) -> Response:
    """Forget a call and everything recorded about it; a live call is hung up first."""
    services = services_of(request)
    user = (await authenticate(request)).user
    call = await _owned_call(services, user, call_id)
    if call.live:
        await services.supervisor.hangup(call, "hangup")
    await services.ledger.delete_call(call.id)
    return Response(status_code=204)


@router.post("/calls/{call_id}/hangup", status_code=204)
async def hangup(
    request: Request,
    call_id: Annotated[str, Path(pattern=ANY_CALL_ID, description="vgc_… (or the upstream's rtc_…).")],
) -> Response:
    """End a call (the browser cannot: hangup needs the server's key). Ending an ended call is a no-op
    (204), so a console that retries, or races the call's own end, sees no error."""
    services = services_of(request)
    user = (await authenticate(request)).user
    call = await _owned_call(services, user, call_id)
    if call.live:
        await services.supervisor.hangup(call, "hangup")
    return Response(status_code=204)
