"""Tokens from an existing identity provider: JWTs checked against its JWKS (pyjwt)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import jwt

from voxgate.errors import AuthenticationFailed

__all__ = ["ExternalIdentity", "JwtVerifier"]


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
        subject = str(claims["sub"])
        name = claims.get("preferred_username") or claims.get("email") or claims.get("name") or subject
        return ExternalIdentity(subject=f"{self.issuer}|{subject}", display_name=str(name))
