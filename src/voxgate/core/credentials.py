"""Secrets voxgate issues: API keys, session cookies, one-time sign-in links and relay tickets.

All are 256-bit random tokens with a readable prefix. Only a SHA-256 digest is ever stored: the tokens
carry enough entropy that a slow password hash would add nothing but latency on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

__all__ = [
    "API_KEY_PREFIX",
    "LINK_PREFIX",
    "SESSION_PREFIX",
    "TICKET_PREFIX",
    "IssuedSecret",
    "digest",
    "issue",
    "looks_like_api_key",
    "safety_identifier",
    "same_digest",
]

API_KEY_PREFIX = "vg_"
SESSION_PREFIX = "vgs_"
LINK_PREFIX = "vgl_"
# Relay tickets: short-lived secrets a browser presents only at voxgate's own relay.
# Relay tickets: voxgate's own short-lived secrets, usable only at its relay. They start with ``ek_`` because
# the official browser client (@openai/agents-realtime) refuses any other WebRTC key in a browser
# (``apiKey.startsWith('ek_')``), and ``vgt_`` says whose they are: stock code runs unchanged, and no
# upstream credential is in them.
TICKET_PREFIX = "ek_vgt_"


@dataclass(frozen=True, slots=True)
class IssuedSecret:
    """A freshly issued secret: ``value`` is shown once, only ``digest`` is kept."""

    value: str
    digest: str
    # Safe to display and to store in clear: identifies the key in listings.
    hint: str


def digest(value: str) -> str:
    """The stored form of a secret."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def issue(prefix: str) -> IssuedSecret:
    """A new random secret with ``prefix``."""
    value = prefix + secrets.token_urlsafe(32)
    return IssuedSecret(value=value, digest=digest(value), hint=value[: len(prefix) + 6])


def looks_like_api_key(value: str) -> bool:
    """True for strings shaped like a voxgate API key (used to tell keys from JWTs)."""
    return value.startswith(API_KEY_PREFIX) and 20 < len(value) < 100


def same_digest(a: str, b: str) -> bool:
    """Constant-time comparison of two digests."""
    return hmac.compare_digest(a, b)


def safety_identifier(user_id: int | str, *, salt: str = "voxgate") -> str:
    """A stable, non-reversible identifier for ``OpenAI-Safety-Identifier`` (OpenAI never sees the id)."""
    return hashlib.sha256(f"{salt}:{user_id}".encode()).hexdigest()[:32]
