"""Who is calling: a browser session cookie, a voxgate API key, or an identity provider's JWT.

Failed credentials are counted per address and per (address, credential). What gets locked out is the
failing pattern, not the address: a credential that keeps failing from an address is refused at once, and
an address over its limit gets 429 for every further unknown credential, but a valid key, cookie or link
still works from it (a shared NAT or proxy must not lock out its innocent users).

A credential that was once good says why it stopped working (``key_revoked``, ``user_disabled``,
``session_revoked``), so the console can tell its user on the next request.

State-changing requests authenticated by cookie must come from an allowed Origin (CSRF).

Keys and cookies that proved a user are answered from memory (:mod:`voxgate.adapters.authcache`): one
read of the revocation epoch per request instead of a SQL query, and a revocation anywhere still refuses
the next request everywhere.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urlsplit

from fastapi import Request

from voxgate.adapters.sql.store import CredentialCheck
from voxgate.core import credentials
from voxgate.core.accounts import User
from voxgate.errors import AuthenticationFailed, PermissionDenied, RateLimited
from voxgate.web.services import Services

__all__ = [
    "COOKIE_NAME",
    "Principal",
    "authenticate",
    "check_origin",
    "client_ip",
    "ensure_not_locked_out",
    "forwarded_client",
    "note_auth_failure",
    "refused",
]

COOKIE_NAME = "voxgate_session"
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_FAILURES = "auth-failures"  # per address
_PATTERN_FAILURES = "auth-failures-credential"  # per (address, credential)

# Why a credential that once worked no longer does, in words for its holder.
_REFUSALS = {
    "key_revoked": "This API key has been revoked. Sign in again with a current key or a new sign-in link.",
    "session_key_revoked": (
        "The API key this browser signed in with has been revoked, which ended the session. "
        "Sign in again with a current key or a new sign-in link."
    ),
    "user_disabled": "Your account has been disabled. Ask an administrator to enable it again.",
    "session_revoked": "This session was signed out. Sign in again.",
}

_IP = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller, how it proved who it is, and what it proved it with: the API key (for a
    key, or a session signed in with one) and the browser session (for a cookie). Relay tickets issued to
    the caller are bound to these."""

    user: User
    method: Literal["cookie", "api_key", "jwt"]
    api_key_id: int | None = None
    session_digest: str | None = None


def services_of(request: Request) -> Services:
    """The app's services (set by the lifespan)."""
    services: Services = request.app.state.services
    return services


def refused(code: str, *, via_session: bool = False) -> AuthenticationFailed:
    """The 401 for a credential that once worked, saying why it no longer does."""
    if code == "key_revoked" and via_session:
        return AuthenticationFailed(_REFUSALS["session_key_revoked"], code=code)
    return AuthenticationFailed(_REFUSALS.get(code, "Invalid credentials."), code=code)


# -- the client's address ------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _trusted_proxies(entries: tuple[str, ...]) -> tuple[bool, tuple[_Network, ...]]:
    return "*" in entries, tuple(ipaddress.ip_network(e, strict=False) for e in entries if e != "*")


def _parse_ip(text: str) -> _IP | None:
    """An address as proxies write it: bare, ``[v6]:port`` or ``v4:port``; None for anything else."""
    text = text.strip()
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    else:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def forwarded_client(
    peer: str, forwarded: Sequence[str], allow: Sequence[str], *, trust_peer: bool = False
) -> str:
    """The client's address, with uvicorn's ``--forwarded-allow-ips`` semantics.

    ``peer`` is the connecting address, ``forwarded`` the ``X-Forwarded-For`` header(s) and ``allow`` the
    trusted proxies (addresses, CIDRs, ``*``). Unless ``peer`` is trusted the header is ignored; otherwise
    the client is the rightmost entry that is not a trusted proxy (the leftmost if all are). ``trust_peer``
    (the deprecated ``VOXGATE_TRUST_PROXY_HEADERS``, used only when ``allow`` is empty) trusts the peer
    alone: the rightmost entry. An entry that is not an IP address falls back to ``peer``.
    """
    hops = [hop.strip() for hop in ",".join(forwarded).split(",") if hop.strip()]
    if not hops:
        return peer
    if not allow:
        if not trust_peer:
            return peer
        candidate = hops[-1]
    else:
        any_proxy, networks = _trusted_proxies(tuple(allow))

        def trusted(address: str) -> bool:
            ip = _parse_ip(address)
            return any_proxy or (ip is not None and any(ip in network for network in networks))

        if not trusted(peer):
            return peer
        candidate = next((hop for hop in reversed(hops) if not trusted(hop)), hops[0])
    ip = _parse_ip(candidate)
    return str(ip) if ip is not None else peer


def client_ip(request: Request) -> str:
    """The caller's address; ``X-Forwarded-For`` only from the configured trusted proxies."""
    settings = services_of(request).settings
    peer = request.client.host if request.client else "unknown"
    if not settings.forwarded_allow_ips and not settings.trust_proxy_headers:
        return peer
    return forwarded_client(
        peer,
        request.headers.getlist("x-forwarded-for"),
        settings.forwarded_allow_ips,
        trust_peer=settings.trust_proxy_headers,
    )


# -- failed attempts -----------------------------------------------------------------------------------


def _locked_out(retry_after: int) -> RateLimited:
    return RateLimited(
        f"Too many failed sign-in attempts from your address; try again in {retry_after} s.",
        code="too_many_auth_failures",
        retry_after=retry_after,
    )


def _pattern(request: Request, credential: str) -> str:
    return f"{client_ip(request)}|{credentials.digest(credential)[:32]}"


async def ensure_not_locked_out(request: Request, credential: str) -> None:
    """Refuse at once (429) a credential that has already failed too often from this address, without
    looking it up. Other credentials from the same address are still looked up."""
    services = services_of(request)
    decision = await services.limiter.check(
        services.auth_failure_limits, _PATTERN_FAILURES, _pattern(request, credential)
    )
    if not decision.allowed:
        raise _locked_out(decision.retry_after)


async def note_auth_failure(request: Request, credential: str | None = None) -> None:
    """Count one failed attempt from this address (and with this credential); past the address's limit,
    raise the 429 the caller must answer instead of its 401."""
    services = services_of(request)
    if credential is not None:
        await services.limiter.hit(
            services.auth_failure_limits, _PATTERN_FAILURES, _pattern(request, credential)
        )
    decision = await services.limiter.hit(services.auth_failure_limits, _FAILURES, client_ip(request))
    if not decision.allowed:
        raise _locked_out(decision.retry_after)


# -- authentication ------------------------------------------------------------------------------------


def _seconds_left(expires_at: datetime | None) -> float | None:
    if expires_at is None:
        return None
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)
    return (expires_at - datetime.now(UTC)).total_seconds()


async def _cached_check(
    request: Request, kind: str, token: str, lookup: Callable[[str], Awaitable[CredentialCheck]]
) -> CredentialCheck:
    """``lookup(token)``, or what it proved before (no revocation since). A credential that proved a user
    never failed, so the lockout is consulted (a Redis round trip) only for those not in memory."""
    services = services_of(request)
    cache = services.credential_cache
    key = f"{kind}:{credentials.digest(token)}"
    epoch = await cache.epoch() if cache is not None else None
    if cache is not None and (hit := cache.get(key, epoch)) is not None:
        return hit
    if kind == "key":
        await ensure_not_locked_out(request, token)
    check = await lookup(token)
    if cache is not None and check.user is not None:
        cache.put(key, check, epoch, expires_in_s=_seconds_left(check.expires_at))
    return check


async def _bearer(request: Request, header: str) -> Principal:
    services = services_of(request)
    scheme, _, token = header.partition(" ")
    token = token.strip()
    check = CredentialCheck(None)
    method: Literal["api_key", "jwt"] = "api_key"
    if scheme.lower() == "bearer" and credentials.looks_like_api_key(token):
        check = await _cached_check(request, "key", token, services.accounts.check_api_key)
    else:
        await ensure_not_locked_out(request, token)
        if scheme.lower() == "bearer" and services.jwt is not None and token.count(".") == 2:
            method = "jwt"
            try:
                identity = await services.jwt.verify(token)
            except AuthenticationFailed:
                await note_auth_failure(request, token)
                raise
            user = await services.accounts.external_user(identity.subject, identity.display_name)
            check = CredentialCheck(None, "user_disabled") if user.disabled else CredentialCheck(user)
    if check.user is None:
        await note_auth_failure(request, token)
        if check.refusal is not None:
            raise refused(check.refusal)
        raise AuthenticationFailed("Invalid API key: it is not one this voxgate issued.")
    return Principal(check.user, method, api_key_id=check.api_key_id)


async def authenticate(request: Request) -> Principal:
    """The caller, or :class:`AuthenticationFailed` (401, saying why a once-good credential stopped
    working) / :class:`RateLimited` (429 for unknown credentials from an address past its limit)."""
    header = request.headers.get("authorization")
    if header is not None:
        return await _bearer(request, header)
    cookie = request.cookies.get(COOKIE_NAME)
    if cookie:
        check = await _cached_check(
            request, "session", cookie, services_of(request).accounts.check_web_session
        )
        if check.user is None:
            if check.refusal is not None:
                raise refused(check.refusal, via_session=True)
            raise AuthenticationFailed("Your session has ended; sign in again.", code="session_expired")
        check_origin(request)
        return Principal(
            check.user, "cookie", api_key_id=check.api_key_id, session_digest=check.session_digest
        )
    raise AuthenticationFailed(
        "Sign in first, or send 'Authorization: Bearer <voxgate API key>'.", code="missing_credentials"
    )


# -- CSRF ----------------------------------------------------------------------------------------------


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
    settings = services_of(request).settings
    # A browser cannot forge Host on a cross-site request, so this site's own origin is safe to allow.
    allowed = {_origin_of(str(request.base_url))}
    if settings.public_url:
        allowed.add(_origin_of(settings.public_url))
    allowed.update(o.rstrip("/").lower() for o in settings.cors_origins)
    if origin.lower() not in allowed:
        raise PermissionDenied(
            f"Cross-site request refused: origin {origin} is not allowed.", code="bad_origin"
        )
