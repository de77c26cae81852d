"""``POST /api/realtime-token``: a short-lived GA client secret for the signed-in user."""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal
from urllib.parse import urljoin

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from voxgate.core.accounts import MintRecord
from voxgate.core.credentials import safety_identifier
from voxgate.errors import RateLimited, VoxgateError
from voxgate.web.auth import authenticate, client_ip, services_of

router = APIRouter(prefix="/api", tags=["realtime"])
log = logging.getLogger("voxgate.mint")


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
        secret = await services.upstream.create_client_secret(
            session=session, ttl_seconds=ttl, safety_identifier=safety_identifier(user.id)
        )
    except VoxgateError as exc:
        await services.accounts.record_mint(MintRecord(outcome=exc.code, status=exc.status_code, **record))
        raise
    await services.accounts.record_mint(MintRecord(outcome="ok", status=200, **record))
    log.info("minted a client secret for user %s (ttl %s s)", user.id, ttl)
    payload = {
        "value": secret.value,
        "expires_at": secret.expires_at,
        "session": secret.session,
        # The embedded engine's calls URL is relative to this site.
        "calls_url": urljoin(str(request.base_url), services.upstream.calls_url),
        "client_secret": {"value": secret.value, "expires_at": secret.expires_at},
    }
    return JSONResponse(payload, headers={**decision.headers(), "Cache-Control": "no-store"})
