"""``POST /api/realtime-token``: a short-lived secret for the signed-in user, in OpenAI's answer shape.

In relay mode (the default) the secret is voxgate's own relay ticket (``ek_vgt_…``): bound to the user and
the policy's session, usable only at voxgate's relay (``calls_url``), so code written for OpenAI's
ephemeral flow works unchanged while no upstream credential reaches the browser. In ephemeral mode it is
an upstream client secret (``ek_…``) minted with the server's key.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urljoin, urlsplit

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from voxgate.adapters import metrics
from voxgate.adapters.upstream import ClientSecret
from voxgate.core.credentials import safety_identifier
from voxgate.errors import RateLimited, VoxgateError
from voxgate.web.audit import AttemptAudit
from voxgate.web.auth import authenticate, client_ip, services_of
from voxgate.web.services import Services

router = APIRouter(prefix="/api", tags=["realtime"])
RELAY_PATH = "/api/realtime/calls"
log = logging.getLogger("voxgate.mint")


def public_url(services: Services, path_or_url: str) -> str:
    """An address to hand to clients, never built from the request's ``Host`` (which the client writes):
    absolute URLs as they are, paths on this site absolute under ``VOXGATE_PUBLIC_URL`` when it is set, and
    otherwise the same-origin path itself."""
    if urlsplit(path_or_url).scheme:
        return path_or_url
    if services.settings.public_url:
        return urljoin(services.settings.public_url.rstrip("/") + "/", path_or_url.lstrip("/"))
    return path_or_url


class ExpiresAfter(BaseModel):
    model_config = ConfigDict(extra="forbid")
    anchor: Literal["created_at"] = "created_at"
    seconds: int | None = Field(default=None, description="Clamped to 10–7200 and to the server's maximum.")


class TokenRequest(BaseModel):
    """Optional: a partial GA session with only the fields the server lets clients choose."""

    model_config = ConfigDict(extra="forbid")
    session: dict[str, Any] | None = Field(
        default=None,
        examples=[{"audio": {"output": {"voice": "cedar"}, "input": {"transcription": {"language": "es"}}}}],
    )
    expires_after: ExpiresAfter | None = None


class SecretOut(BaseModel):
    value: str
    expires_at: int


class TokenOut(BaseModel):
    value: str
    expires_at: int
    session: dict[str, Any]
    calls_url: str = Field(
        description="Where the browser POSTs its SDP offer with `Authorization: Bearer <value>`."
    )
    client_secret: SecretOut = Field(description="The same secret in the older shape, for older clients.")


@router.post(
    "/realtime-token",
    response_model=TokenOut,
    responses={429: {}, 401: {}, 400: {}, 502: {}, 503: {}, 504: {}},
)
async def realtime_token(
    request: Request, body: Annotated[TokenRequest | None, Body()] = None
) -> JSONResponse:
    """Mint an ephemeral key (``ek_…``) upstream for a session built from the server's policy."""
    services = services_of(request)
    body = body or TokenRequest()
    record: dict[str, Any] = {"user_id": None, "client_ip": client_ip(request), "ttl": None, "model": None}
    audit = AttemptAudit(services.accounts, record)
    try:
        principal = await authenticate(request)
        user = principal.user
        record["user_id"] = user.id
        session = services.policy.build(body.session)
        ttl = services.policy.ttl(body.expires_after.seconds if body.expires_after else None)
        record.update(ttl=ttl, model=session.get("model"))
        decision = await services.limiter.hit(services.mint_limits, "mint", str(user.id))
        request.state.ratelimit_headers = decision.headers()
        if not decision.allowed:
            raise RateLimited(
                f"Too many tokens requested; try again in {decision.retry_after} s.",
                retry_after=decision.retry_after,
            )
        if services.budget is not None:
            await services.budget.admission.check_mint(user.id, session.get("model"))
        if services.settings.console_mode == "relay":
            # Bound to what the caller proved itself with: the ticket dies with that session or key.
            value, expires = await services.tickets.issue(
                user.id,
                session,
                timedelta(seconds=ttl),
                session_digest=principal.session_digest,
                api_key_id=principal.api_key_id,
            )
            secret = ClientSecret(value=value, expires_at=int(expires.timestamp()), session=session)
            calls_url = RELAY_PATH
        else:
            # The secret reaches the client only once its row is committed (written meanwhile).
            secret = await audit.alongside(
                services.upstream.create_client_secret(
                    session=session, ttl_seconds=ttl, safety_identifier=safety_identifier(user.id)
                )
            )
            calls_url = services.upstream.calls_url
    except VoxgateError as exc:
        await audit.finish(exc.code, exc.status_code)
        metrics.mint_refused(exc.code)
        raise
    await audit.finish("ok", 200)
    metrics.minted(services.settings.console_mode)
    log.debug("minted a %s secret for user %s (ttl %s s)", services.settings.console_mode, user.id, ttl)
    payload = {
        "value": secret.value,
        "expires_at": secret.expires_at,
        "session": secret.session,
        "calls_url": public_url(services, calls_url),
        "client_secret": {"value": secret.value, "expires_at": secret.expires_at},
    }
    return JSONResponse(payload, headers={**decision.headers(), "Cache-Control": "no-store"})
