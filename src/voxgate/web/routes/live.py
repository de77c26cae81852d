"""``POST /api/live/sessions``: a browser's WebRTC offer, relayed to GPT-Live with the server's key.

It takes OpenAI's own shape (reference openai-gpt-live.md §1), so code written for
``POST /v1/live/sessions`` works with only its URL changed: JSON ``{"session": {…}, "transport":
{"type": "webrtc", "sdp": "…"}}`` answered by ``201 {"session": {"id": "vgc_…"}, "transport": {"type":
"webrtc", "sdp": "…"}}``. ``session`` holds what OpenAI requires (``model``, which must be the policy's)
and only the overrides the Live policy allows; the rest of the session is the server's. Callers
authenticate as for the Realtime relay (cookie + Origin, a voxgate API key, a JWT) and share its
per-user call limit.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Literal

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from voxgate.adapters import metrics
from voxgate.control.live_relay import relay_live_offer, start_watching
from voxgate.core.credentials import safety_identifier
from voxgate.errors import InvalidRequest, NotFound, RateLimited, VoxgateError
from voxgate.web.admitted_relay import relay_admitted
from voxgate.web.audit import AttemptAudit
from voxgate.web.auth import authenticate, client_ip, services_of
from voxgate.web.services import Services

router = APIRouter(prefix="/api", tags=["live"])
log = logging.getLogger("voxgate.relay")

# An SDP offer is a few kB; anything near this is not one.
MAX_OFFER_CHARS = 64 * 1024


class LiveTransport(BaseModel):
    """The browser's side of the WebRTC connection."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["webrtc"]
    sdp: str = Field(min_length=1, max_length=MAX_OFFER_CHARS, description="The browser's SDP offer.")


class LiveSessionRequest(BaseModel):
    """``POST /v1/live/sessions``'s body: the session (only what the policy allows) and the offer."""

    model_config = ConfigDict(extra="forbid")

    session: dict[str, Any] = Field(
        description="Session overrides the Live policy allows (e.g. audio.output.voice); model optional."
    )
    transport: LiveTransport


class LiveSessionId(BaseModel):
    id: str = Field(description="voxgate's call id (vgc_…): history, hang-up and export use it.")


class LiveSessionAnswer(BaseModel):
    """``201``: voxgate's call id and the SDP answer the browser applies."""

    session: LiveSessionId
    transport: LiveTransport


class ProfileOut(BaseModel):
    """A kind of call the console may start: an API and its model, as the server's policies set them."""

    id: Literal["realtime", "live"]
    api: Literal["realtime", "live"]
    label: str = Field(description='What people pick, e.g. "Live gpt-live-1.1".')
    model: str
    voices: list[str] = Field(description="The voices a caller may choose for it.")
    usd_per_minute: str | None = Field(
        default=None, description="What a minute of it costs when billed per second (GPT-Live), as a decimal."
    )
    may_set_instructions: bool = Field(
        default=False,
        description="Whether the policy lets a caller give the session instructions of their own "
        "(the server's own are never sent to the page).",
    )


def profiles(services: Services) -> list[dict[str, Any]]:
    """The profiles a user may pick: Realtime always, GPT-Live when its policy and an upstream allow it."""
    realtime = services.policy
    found: list[dict[str, Any]] = [
        {
            "id": "realtime",
            "api": "realtime",
            "label": f"Realtime {realtime.model}",
            "model": realtime.model,
            "voices": list(realtime.allowed_voices),
            "may_set_instructions": "instructions" in realtime.client_overrides,
        }
    ]
    live = services.live_policy
    if live is not None and live.enabled and services.live_upstream is not None:
        prices = services.prices.live_prices(live.model)
        found.append(
            {
                "id": "live",
                "api": "live",
                "label": f"Live {live.model}",
                "model": live.model,
                "voices": list(live.allowed_voices),
                "usd_per_minute": str(prices.active) if prices else None,
            }
        )
    return found


async def _read_body(request: Request) -> LiveSessionRequest:
    """The body, read after authentication (as the Realtime relay reads its own): a caller with no valid
    credential learns nothing about the body's shape. Errors name the parameter, in OpenAI's words."""
    try:
        data = json.loads(await request.body())
    except ValueError:
        raise InvalidRequest("The request body must be a JSON object.", code="invalid_json") from None
    try:
        return LiveSessionRequest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        param = ".".join(str(part) for part in first["loc"]) or None
        if first["type"] == "extra_forbidden":
            raise InvalidRequest(
                f"Unknown parameter: '{param}'.", code="unknown_parameter", param=param
            ) from None
        if first["type"] == "missing":
            raise InvalidRequest(
                f"Missing required parameter: '{param}'.", code="missing_required_parameter", param=param
            ) from None
        raise InvalidRequest(f"Invalid value for '{param}': {first['msg']}.", param=param) from None


def _inlined(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with its nested models written in place (no ``$defs`` to resolve)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(defs[ref.rsplit("/", 1)[-1]])
            return {key: inline(value) for key, value in node.items()}
        return [inline(value) for value in node] if isinstance(node, list) else node

    return dict(inline(schema))


# The body is read by hand, after authentication; this documents it.
_BODY = {"required": True, "content": {"application/json": {"schema": _inlined(LiveSessionRequest)}}}


@router.post(
    "/live/sessions",
    status_code=201,
    response_model=LiveSessionAnswer,
    responses={400: {}, 401: {}, 403: {}, 404: {}, 429: {}, 502: {}, 503: {}, 504: {}},
    openapi_extra={"requestBody": _BODY},
)
async def create_live_session(request: Request) -> JSONResponse:
    """Create a GPT-Live session for the caller's offer and answer with its SDP; it is watched from now on."""
    services = services_of(request)
    policy, upstream = services.live_policy, services.live_upstream
    record: dict[str, Any] = {"user_id": None, "client_ip": client_ip(request), "ttl": None, "model": None}
    audit = AttemptAudit(services.accounts, record)
    try:
        principal = await authenticate(request)
        user = principal.user
        record["user_id"] = user.id
        if policy is None or upstream is None or not policy.enabled:
            raise NotFound("GPT-Live is not enabled on this server.", code="live_disabled")
        body = await _read_body(request)
        model = body.session.get("model", policy.model)
        if model != policy.model:
            raise InvalidRequest(
                f"Model {model!r} is not offered; this server's GPT-Live model is {policy.model!r}.",
                code="override_not_allowed",
                param="session.model",
            )
        session = policy.build(body.session, safety_identifier=safety_identifier(user.id))
        record["model"] = session["model"]
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
            model=session["model"],
            relay=lambda call_id: relay_live_offer(
                upstream=upstream,
                supervisor=services.supervisor,
                prices=services.prices,
                user_id=user.id,
                sdp=body.transport.sdp,
                session=session,
                client_ip=record["client_ip"],
                watch=False,
                call_id=call_id,
                api_key_id=principal.api_key_id,
            ),
        )
    except VoxgateError as exc:
        await audit.finish(exc.code, exc.status_code)
        raise
    log.debug("relayed Live session %s for user %s", relayed.call.id, user.id)
    metrics.relayed(relayed.call.api, relayed.call.model)

    # After the answer is sent: the sideband attach (well within its 1 s bound), the creation charge and
    # the audit row.
    async def watch() -> None:  # async, so that Starlette runs it on the loop, not in a thread
        await start_watching(services.supervisor, services.prices, relayed.call)

    after = BackgroundTasks()
    after.add_task(watch)
    after.add_task(audit.finish, "relayed", 201)
    answer = {"session": {"id": relayed.call.id}, "transport": {"type": "webrtc", "sdp": relayed.answer_sdp}}
    return JSONResponse(
        answer,
        status_code=201,
        headers={**decision.headers(), "Cache-Control": "no-store"},
        background=after,
    )
