"""``POST /api/realtime/calls``: the browser's SDP offer, relayed upstream with the server's key.

It takes the shapes OpenAI's own calls endpoint takes, so code written for OpenAI works with only its URL
changed: the raw offer as ``application/sdp``, or multipart ``sdp`` + ``session`` (the official SDKs'
shape), and also JSON ``{"sdp": …, "session": {…}}``. ``session`` holds only the overrides the policy
allows (the same rules as minting). Callers authenticate as for minting (cookie + Origin, a voxgate API
key, a JWT) or with a relay ticket (``ek_vgt_…``) from ``/api/realtime-token`` in relay mode.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request, Response

from voxgate.adapters import metrics
from voxgate.control.relay import relay_offer
from voxgate.core import credentials
from voxgate.core.accounts import User
from voxgate.errors import (
    AuthenticationFailed,
    InvalidRequest,
    RateLimited,
    UnsupportedMediaType,
    VoxgateError,
)
from voxgate.web.admitted_relay import relay_admitted
from voxgate.web.audit import AttemptAudit
from voxgate.web.auth import authenticate, client_ip, ensure_not_locked_out, note_auth_failure, services_of

router = APIRouter(prefix="/api", tags=["realtime"])
log = logging.getLogger("voxgate.relay")

# An SDP offer is a few kB; anything near this is not one.
MAX_OFFER_BYTES = 64 * 1024

_SDP_ANSWER: dict[int | str, dict[str, Any]] = {
    201: {
        "description": "The SDP answer; `Location` names voxgate's call id (`/api/calls/vgc_…`).",
        "content": {"application/sdp": {"schema": {"type": "string"}}},
    }
}


# The body is read by hand (three shapes); this documents them.
_OFFER_BODY: dict[str, Any] = {
    "required": True,
    "description": "The SDP offer, raw or with session overrides (only what the policy allows).",
    "content": {
        "application/sdp": {"schema": {"type": "string"}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["sdp"],
                "properties": {"sdp": {"type": "string"}, "session": {"type": "string"}},
            }
        },
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["sdp"],
                "additionalProperties": False,
                "properties": {"sdp": {"type": "string"}, "session": {"type": "object"}},
            }
        },
    },
}


async def _caller(request: Request) -> tuple[User, dict[str, Any] | None]:
    """The user, and the session a relay ticket carries (None for other credentials)."""
    services = services_of(request)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token.startswith(credentials.TICKET_PREFIX):
        principal = await authenticate(request)
        # Revoking the key the call is made with ends the call (see control.budget_sweep).
        request.state.api_key_id = principal.api_key_id
        return principal.user, None
    await ensure_not_locked_out(request, token)
    # None also for a ticket whose browser session ended, whose key was revoked or whose user was disabled.
    redeemed = await services.tickets.redeem_with_key(token)
    user = await services.accounts.user_by_id(redeemed[0]) if redeemed else None
    if redeemed is None or user is None or user.disabled:
        await note_auth_failure(request, token)
        raise AuthenticationFailed(
            "Invalid or expired relay ticket (a ticket also ends with the sign-in or key it was issued to).",
            code="invalid_api_key",
        )
    request.state.api_key_id = redeemed[2]
    return user, redeemed[1]


def _json_session(value: Any, param: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise InvalidRequest(f"'{param}' must be a JSON object.", param=param) from None
    if not isinstance(value, dict):
        raise InvalidRequest(f"'{param}' must be a JSON object.", param=param)
    return value


async def _read_offer(request: Request) -> tuple[str, dict[str, Any] | None]:
    """(SDP offer, session overrides) from any of the accepted body shapes."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_OFFER_BYTES:
        raise InvalidRequest("The SDP offer is too large.", code="payload_too_large", param="sdp")
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media == "multipart/form-data":
        form = await request.form(max_files=2, max_fields=4, max_part_size=MAX_OFFER_BYTES)
        sdp: Any = form.get("sdp")
        if sdp is not None and not isinstance(sdp, str):
            sdp = (await sdp.read()).decode("utf-8", "replace")
        session = form.get("session")
        overrides = _json_session(
            session if isinstance(session, str) or session is None else (await session.read()).decode(),
            "session",
        )
    else:
        body = await request.body()
        if len(body) > MAX_OFFER_BYTES:
            raise InvalidRequest("The SDP offer is too large.", code="payload_too_large", param="sdp")
        if media == "application/sdp":
            sdp, overrides = body.decode("utf-8", "replace"), None
        elif media == "application/json":
            try:
                data = json.loads(body)
            except ValueError:
                raise InvalidRequest("The request body must be a JSON object.", code="invalid_json") from None
            if not isinstance(data, dict):
                raise InvalidRequest("The request body must be a JSON object.", code="invalid_json")
            for key in data:
                if key not in ("sdp", "session"):
                    raise InvalidRequest(f"Unknown parameter: '{key}'.", code="unknown_parameter", param=key)
            sdp, overrides = data.get("sdp"), _json_session(data.get("session"), "session")
        else:
            raise UnsupportedMediaType(
                "Send the SDP offer as application/sdp, multipart/form-data (sdp, session) or "
                'application/json ({"sdp": …, "session": {…}}).',
                param="Content-Type",
            )
    if not isinstance(sdp, str) or not sdp.strip():
        raise InvalidRequest(
            "Missing required parameter: 'sdp'.", code="missing_required_parameter", param="sdp"
        )
    return sdp, overrides


@router.post(
    "/realtime/calls",
    status_code=201,
    response_class=Response,
    responses={**_SDP_ANSWER, 400: {}, 401: {}, 403: {}, 415: {}, 429: {}, 502: {}, 503: {}, 504: {}},
    openapi_extra={"requestBody": _OFFER_BODY},
)
async def relay_call(request: Request) -> Response:
    """Relay a WebRTC offer upstream and answer with its SDP answer; the call is watched from now on."""
    services = services_of(request)
    record: dict[str, Any] = {"user_id": None, "client_ip": client_ip(request), "ttl": None, "model": None}
    audit = AttemptAudit(services.accounts, record)
    try:
        user, ticket_session = await _caller(request)
        record["user_id"] = user.id
        sdp, overrides = await _read_offer(request)
        if overrides is not None or ticket_session is None:
            session = services.policy.build(overrides)
        else:
            session = ticket_session
        record["model"] = session.get("model")
        decision = await services.limiter.hit(services.call_limits, "calls", str(user.id))
        request.state.ratelimit_headers = decision.headers()
        if not decision.allowed:
            raise RateLimited(
                f"Too many calls started; try again in {decision.retry_after} s.",
                retry_after=decision.retry_after,
            )
        relayed = await relay_admitted(
            services,
            audit,
            user_id=user.id,
            model=session.get("model"),
            relay=lambda call_id: relay_offer(
                upstream=services.upstream,
                supervisor=services.supervisor,
                user_id=user.id,
                sdp=sdp,
                session=session,
                client_ip=record["client_ip"],
                watch=False,
                call_id=call_id,
                api_key_id=getattr(request.state, "api_key_id", None),
            ),
        )
    except VoxgateError as exc:
        await audit.finish(exc.code, exc.status_code)
        raise
    log.debug("relayed call %s for user %s", relayed.call.id, user.id)
    metrics.relayed(relayed.call.api, relayed.call.model)
    headers = {
        **decision.headers(),
        "Location": f"/api/calls/{relayed.call.id}",
        "Cache-Control": "no-store",
    }

    # After the answer is sent: completing the audit row (the pending row already covers a crash) and
    # attaching the sideband (well within its 1 s bound).
    async def watch() -> None:  # async, so that Starlette runs it on the loop, not in a thread
        services.supervisor.watch(relayed.call, new=True)

    after = BackgroundTasks()
    after.add_task(watch)
    after.add_task(audit.finish, "relayed", 201)
    return Response(
        relayed.answer_sdp, status_code=201, media_type="application/sdp", headers=headers, background=after
    )
