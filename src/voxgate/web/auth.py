"""Who is calling: a browser session cookie, a voxgate API key, or an identity provider's JWT.

Failed credentials count against a per-IP limit; past it, the address is locked out for the window.
State-changing requests authenticated by cookie must come from an allowed Origin (CSRF).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from fastapi import Request

from voxgate.core import credentials
from voxgate.core.accounts import User
from voxgate.errors import AuthenticationFailed, PermissionDenied, RateLimited
from voxgate.web.services import Services

__all__ = ["COOKIE_NAME", "Principal", "authenticate", "check_origin", "client_ip", "note_auth_failure"]

COOKIE_NAME = "voxgate_session"
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller and how it proved who it is."""

    user: User
    method: Literal["cookie", "api_key", "jwt"]


def services_of(request: Request) -> Services:
    """The app's services (set by the lifespan)."""
    services: Services = request.app.state.services
    return services


def client_ip(request: Request) -> str:
    """The caller's address; ``X-Forwarded-For`` only when configured to trust a proxy."""
    if services_of(request).settings.trust_proxy_headers:
        forwarded = request.headers.get("x-forwarded-for")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.client.host if request.client else "unknown"


async def ensure_not_locked_out(request: Request) -> None:
    """Refuse at once while this address has too many recent failed attempts."""
    services = services_of(request)
    decision = await services.limiter.check(services.auth_failure_limits, "auth-failures", client_ip(request))
    if not decision.allowed:
        raise RateLimited(
            f"Too many failed sign-in attempts from your address; try again in {decision.retry_after} s.",
            code="too_many_auth_failures",
            retry_after=decision.retry_after,
        )


async def note_auth_failure(request: Request) -> None:
    """Count one failed attempt from this address."""
    services = services_of(request)
    await services.limiter.hit(services.auth_failure_limits, "auth-failures", client_ip(request))


async def authenticate(request: Request) -> Principal:
    """The caller, or :class:`AuthenticationFailed` (401) / :class:`RateLimited` (429 when locked out)."""
    services = services_of(request)
    header = request.headers.get("authorization")
    if header is not None:
        await ensure_not_locked_out(request)
        scheme, _, token = header.partition(" ")
        token = token.strip()
        user: User | None = None
        method: Literal["api_key", "jwt"] = "api_key"
        if scheme.lower() == "bearer" and credentials.looks_like_api_key(token):
            user = await services.accounts.user_for_api_key(token)
        elif scheme.lower() == "bearer" and services.jwt is not None and token.count(".") == 2:
            method = "jwt"
            try:
                identity = await services.jwt.verify(token)
            except AuthenticationFailed:
                await note_auth_failure(request)
                raise
            user = await services.accounts.external_user(identity.subject, identity.display_name)
            user = None if user.disabled else user
        if user is None:
            await note_auth_failure(request)
            raise AuthenticationFailed("Invalid, revoked or disabled API key.")
        return Principal(user, method)
    cookie = request.cookies.get(COOKIE_NAME)
    if cookie:
        user = await services.accounts.user_for_web_session(cookie)
        if user is None:
            raise AuthenticationFailed("Your session has ended; sign in again.", code="session_expired")
        check_origin(request)
        return Principal(user, "cookie")
    raise AuthenticationFailed(
        "Sign in first, or send 'Authorization: Bearer <voxgate API key>'.", code="missing_credentials"
    )


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def check_origin(request: Request, *, required: bool = True) -> None:
    """For state-changing requests, the Origin (or Referer) must be this site or an allowed origin."""
    if request.method not in _UNSAFE_METHODS:
        return
    origin = request.headers.get("origin")
    if origin is None and request.headers.get("referer"):
        origin = _origin_of(request.headers["referer"])
    if origin is None:
        if required:
            raise PermissionDenied(
                "Cross-site request refused: the Origin header is missing.", code="bad_origin"
            )
        return
    allowed = {_origin_of(str(request.base_url))}
    allowed.update(o.rstrip("/").lower() for o in services_of(request).settings.cors_origins)
    if origin.lower() not in allowed:
        raise PermissionDenied(
            f"Cross-site request refused: origin {origin} is not allowed.", code="bad_origin"
        )
