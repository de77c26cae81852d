"""Tokens from an existing identity provider: JWTs checked against its JWKS (pyjwt)."""

from __future__ import annotations

import asyncio
import unicodedata
from dataclasses import dataclass
from typing import Any

import jwt

from voxgate.errors import AuthenticationFailed

__all__ = ["MAX_DISPLAY_NAME", "MAX_SUBJECT", "ExternalIdentity", "JwtVerifier"]

# The stored subject is "issuer|sub" in 512 characters; the issuer is configured and checked.
MAX_SUBJECT = 256
# Users' names are 200 characters; a name taken by someone else gets a "#xxxxxxxx" suffix.
MAX_DISPLAY_NAME = 160


@dataclass(frozen=True, slots=True)
class ExternalIdentity:
    """Who a valid token says the caller is."""

    subject: str  # "issuer|sub": unique across providers
    display_name: str


class JwtVerifier:
    """Verifies signature, issuer, audience and expiry. Keys are fetched from the JWKS URL and cached."""

    def __init__(self, *, issuer: str, audience: str | None, jwks_url: str, algorithms: list[str]) -> None:
        self.issuer = issuer
        self.audience = audience
        self.algorithms = algorithms
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300, timeout=5)

    async def verify(self, token: str) -> ExternalIdentity:
        """The identity in ``token``; :class:`AuthenticationFailed` if anything about it is wrong."""
        try:
            # PyJWKClient fetches with urllib, which blocks: keep it off the event loop.
            signing_key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
            claims: dict[str, Any] = jwt.decode(
                token,
                signing_key.key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iss", "sub"], "verify_aud": self.audience is not None},
            )
        except jwt.PyJWKClientConnectionError:
            raise AuthenticationFailed(
                "The identity provider's keys could not be fetched.", code="identity_provider_unreachable"
            ) from None
        except jwt.PyJWTError as exc:
            raise AuthenticationFailed(f"Invalid identity token: {exc}.", code="invalid_token") from None
        subject = claims["sub"]
        if not isinstance(subject, str) or not _printable(subject) or not 0 < len(subject) <= MAX_SUBJECT:
            raise AuthenticationFailed(
                f"Invalid identity token: 'sub' must be printable text of 1 to {MAX_SUBJECT} characters.",
                code="invalid_token",
            )
        name = next(
            (
                display
                for claim in ("preferred_username", "email", "name")
                if (display := _display_name(claims.get(claim)))
            ),
            _display_name(subject) or "user",
        )
        return ExternalIdentity(subject=f"{self.issuer}|{subject}", display_name=name)


def _printable(text: str) -> bool:
    return not any(unicodedata.category(ch) in ("Cc", "Cs") for ch in text)


def _display_name(value: Any) -> str:
    """A claim made fit to be a user's name: text without control characters, at most
    :data:`MAX_DISPLAY_NAME` characters (empty if there is nothing usable)."""
    if not isinstance(value, str):
        return ""
    cleaned = "".join(ch for ch in value if unicodedata.category(ch) not in ("Cc", "Cs"))
    return " ".join(cleaned.split())[:MAX_DISPLAY_NAME]
