"""Browser sign-in with a key or a one-time link, sign-out, and who is signed in."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from voxgate.core import credentials
from voxgate.core.accounts import User
from voxgate.errors import AuthenticationFailed, InvalidRequest
from voxgate.settings import Settings
from voxgate.web.auth import (
    COOKIE_NAME,
    authenticate,
    check_origin,
    ensure_not_locked_out,
    note_auth_failure,
    refused,
    services_of,
)
from voxgate.web.routes.live import ProfileOut, profiles

router = APIRouter(prefix="/api", tags=["account"])


class SignInRequest(BaseModel):
    """Exactly one of ``key`` (a voxgate API key) or ``link`` (the token from a one-time sign-in link)."""

    model_config = ConfigDict(extra="forbid")
    # Keys and links are printable ASCII; anything else could not be one (and must not reach the database).
    key: Annotated[str | None, Field(max_length=200, pattern=r"^[\x21-\x7e]*$")] = None
    link: Annotated[str | None, Field(max_length=200, pattern=r"^[\x21-\x7e]*$")] = None


class UserOut(BaseModel):
    id: int
    name: str
    role: Literal["admin", "user"]


class LocalEngineOut(BaseModel):
    """What answers calls when the upstream is voxgate's own local engine, said plainly."""

    label: str = Field(
        description="E.g. 'local engine, demo assistant': not a model the engine does not run."
    )
    responder: Literal["echo", "chat"] = Field(
        description="'echo': the built-in demo assistant, which repeats what it heard; 'chat': a Chat "
        "Completions server."
    )
    chat_model: str | None = Field(description="The Chat Completions model, when the responder is 'chat'.")
    transcription_languages: list[str] | None = Field(
        description="The languages the engine transcribes (['en'] for its English-only Whisper model); "
        "null when its model is multilingual."
    )


class MeOut(BaseModel):
    user: UserOut
    auth: Literal["cookie", "api_key", "jwt"]
    console_mode: Literal["relay", "ephemeral"] = Field(
        description="How the console connects: through voxgate's relay, or with an upstream client secret."
    )
    simulated_cost: bool = Field(
        description="Calls run on the local engine; costs are what OpenAI would bill."
    )
    local_engine: LocalEngineOut | None = Field(
        default=None, description="Set when calls run on the embedded local engine rather than OpenAI."
    )
    profiles: list[ProfileOut] = Field(
        default_factory=list, description="What the console may call: Realtime, and GPT-Live when enabled."
    )


def _user_out(user: User) -> UserOut:
    return UserOut(id=user.id, name=user.name, role=user.role)


def _local_engine(settings: Settings) -> dict[str, Any] | None:
    """What the embedded engine is, for people who would otherwise read a model name it does not run."""
    if not settings.uses_embedded_engine:
        return None
    engine = settings.engine
    chat = engine.responder == "chat"
    # Whisper's ``.en`` models (the default, tiny.en, among them) transcribe English only.
    english_only = engine.asr_model is None or engine.asr_model.rstrip("/").endswith(".en")
    return {
        "label": f"local engine, {engine.chat_model} via Chat Completions"
        if chat
        else "local engine, demo assistant",
        "responder": engine.responder,
        "chat_model": engine.chat_model if chat else None,
        "transcription_languages": ["en"] if english_only else None,
    }


@router.post("/auth/signin", response_model=MeOut)
async def sign_in(body: SignInRequest, request: Request, response: Response) -> dict[str, Any]:
    """Exchange a key or a one-time link for an HttpOnly session cookie."""
    check_origin(request, required=False)
    if (body.key is None) == (body.link is None):
        raise InvalidRequest("Send exactly one of 'key' or 'link'.", param="key")
    presented = body.key if body.key is not None else body.link
    assert presented is not None
    # A credential that keeps failing from this address is refused without a lookup; a valid one works
    # even from an address over its limit (see voxgate.web.auth).
    await ensure_not_locked_out(request, presented)
    services = services_of(request)
    user: User | None = None
    refusal: str | None = None
    api_key_id: int | None = None
    if body.key is not None and credentials.looks_like_api_key(body.key):
        check = await services.accounts.check_api_key(body.key)
        user, refusal, api_key_id = check.user, check.refusal, check.api_key_id
    elif body.link is not None and body.link.startswith(credentials.LINK_PREFIX):
        user = await services.accounts.consume_signin_link(body.link)
    if user is None:
        await note_auth_failure(request, presented)
        if refusal is not None:
            raise refused(refusal)
        what = "key" if body.key is not None else "sign-in link (it may be used or expired)"
        raise AuthenticationFailed(f"That {what} is not valid.")
    # Bound to the key it was made with: revoking the key ends this session too.
    token = await services.accounts.create_web_session(user.id, services.cookie_ttl, api_key_id=api_key_id)
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=int(services.cookie_ttl.total_seconds()),
        httponly=True,
        samesite="strict",
        # Behind a TLS-terminating proxy the request itself is plain http: the public URL tells.
        secure=request.url.scheme == "https" or (services.settings.public_url or "").startswith("https:"),
        path="/",
    )
    return {
        "user": _user_out(user),
        "auth": "cookie",
        "console_mode": services.settings.console_mode,
        "simulated_cost": services.simulated_cost,
        "local_engine": _local_engine(services.settings),
        "profiles": profiles(services),
    }


@router.post("/auth/signout", status_code=204)
async def sign_out(request: Request, response: Response) -> None:
    """End the browser session (its cookie stops working everywhere) and clear the cookie."""
    check_origin(request)
    token = request.cookies.get(COOKIE_NAME)
    if token:
        await services_of(request).accounts.end_web_session(token)
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict")


@router.get("/me", response_model=MeOut)
async def me(request: Request) -> dict[str, Any]:
    """Who is signed in (401 if nobody)."""
    principal = await authenticate(request)
    services = services_of(request)
    return {
        "user": _user_out(principal.user),
        "auth": principal.method,
        "console_mode": services.settings.console_mode,
        "simulated_cost": services.simulated_cost,
        "local_engine": _local_engine(services.settings),
        "profiles": profiles(services),
    }
