"""API keys: the configured standard keys and minted ephemeral ``ek_…`` client secrets.

A client secret carries the session config it was minted with and may open several sessions until it
expires; expiry only stops *new* sessions, never a live one (reference §1.1, §7). Unknown and expired
keys are both answered with 401 ``invalid_api_key``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from voxgate.engine.ids import new_id
from voxgate.errors import AuthenticationFailed

__all__ = ["Credential", "KeyStore", "MintedKey", "bearer_token", "key_fingerprint", "mask_key"]


@dataclass(frozen=True, slots=True)
class MintedKey:
    """One client secret: its value, its expiry (unix seconds), the session fields it was minted with and
    whose share of the caps its calls use (its minter's cap key, see :mod:`voxgate.engine.server.caps`)."""

    value: str
    expires_at: int
    session: dict[str, Any] = field(default_factory=dict)
    minted_by: str | None = None


@dataclass(frozen=True, slots=True)
class Credential:
    """Who is calling: a standard key, or an ephemeral key with its session template.

    ``key_id`` is the key's :func:`key_fingerprint`, so the engine can tell keys apart (e.g. which
    ``ek_`` opened a call) without keeping or logging the key itself; ``minted_by`` is, for an ``ek_``,
    the cap key of whoever minted it (its calls count against that share).
    """

    kind: Literal["standard", "ephemeral"]
    session: dict[str, Any] = field(default_factory=dict)
    key_id: str | None = None
    minted_by: str | None = None


def key_fingerprint(key: str) -> str:
    """A stable, non-reversible id of ``key`` (SHA-256, hex)."""
    return hashlib.sha256(key.encode()).hexdigest()


def mask_key(key: str) -> str:
    """Show a key the way OpenAI's error messages do, without leaking it."""
    return f"{key[:4]}{'*' * 8}{key[-4:]}" if len(key) > 12 else "*" * len(key)


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, if any."""
    value = headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class KeyStore:
    """Checks standard keys and mints/looks up ephemeral keys. In-memory: one engine process owns them."""

    def __init__(self, api_keys: Iterable[str], *, clock: Callable[[], float] = time.time) -> None:
        self._standard = tuple(api_keys)
        self._minted: dict[str, MintedKey] = {}
        self._clock = clock

    def mint(self, session: dict[str, Any], ttl_s: int, *, minted_by: str | None = None) -> MintedKey:
        """Mint a client secret valid for ``ttl_s`` seconds, carrying the session fields ``session``;
        ``minted_by`` is the minter's cap key."""
        now = self._clock()
        # Drop expired secrets here so the table stays as small as the set of live ones.
        for value in [v for v, k in self._minted.items() if k.expires_at <= now]:
            del self._minted[value]
        key = MintedKey(
            value=new_id("ek", 16), expires_at=int(now) + ttl_s, session=session, minted_by=minted_by
        )
        self._minted[key.value] = key
        return key

    def authenticate(self, token: str | None, *, allow_ephemeral: bool = True) -> Credential:
        """The credential behind ``token``; raises :class:`AuthenticationFailed` (401) otherwise."""
        if not token:
            raise AuthenticationFailed(
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                code="missing_api_key",
            )
        # Compare every configured key in constant time so timing does not reveal a prefix match.
        if any(hmac.compare_digest(token.encode(), key.encode()) for key in self._standard):
            return Credential("standard", key_id=key_fingerprint(token))
        minted = self._minted.get(token)
        if minted is not None and allow_ephemeral:
            if minted.expires_at <= self._clock():
                raise AuthenticationFailed(f"Ephemeral key has expired: {mask_key(token)}.")
            return Credential(
                "ephemeral", dict(minted.session), key_id=key_fingerprint(token), minted_by=minted.minted_by
            )
        raise AuthenticationFailed(f"Incorrect API key provided: {mask_key(token)}.")
