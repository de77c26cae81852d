"""How many live calls and WebSocket sessions the engine holds: per key, per process, in total.

Every limit is checked when a call's offer or a session's handshake arrives, before anything is built
for it, and counts what is live right now: a call counts from its answer until it is closed, so a
half-open call (offer answered, peer never connected) holds its place until the engine reaps it
(``call_connect_timeout_s``). Refusals are OpenAI-shaped: 429 ``too_many_calls`` /
``too_many_sessions`` for a key at its own limit (other keys are not affected), 503
``engine_at_capacity`` when the process is full; both with ``Retry-After``.

Whose share a call uses (its *cap key*): a standard key's own; for a *trusted* key (a gateway's,
relaying or minting for many users) the end user's, named by the ``OpenAI-Safety-Identifier`` header the
gateway sends as it would to OpenAI (without one, a trusted key is not capped per key); a client secret
uses the share of whoever minted it, so minting many secrets does not multiply one key's or one user's
share.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass

from voxgate.errors import RateLimited, VoxgateError

__all__ = ["Capacity", "EngineAtCapacity", "Limits", "cap_key"]

# Seconds a refused client is told to wait: about the time a short call or a half-open one takes to go.
RETRY_AFTER_S = 5


class EngineAtCapacity(VoxgateError):
    """The process holds as many calls or sessions as it may (503, ``Retry-After``)."""

    status_code = 503
    error_type = "server_error"
    default_code = "engine_at_capacity"


@dataclass(frozen=True, slots=True)
class Limits:
    """The caps, from :class:`~voxgate.engine.config.EngineConfig`."""

    calls_per_key: int
    sessions_per_key: int
    calls: int
    total: int


# An identifier is the gateway's hash of a user id; anything longer is cut (it is kept while calls live).
_MAX_IDENTIFIER = 128


def cap_key(
    kind: str,
    key_id: str | None,
    *,
    minted_by: str | None = None,
    trusted: frozenset[str] = frozenset(),
    end_user: str | None = None,
) -> str | None:
    """Whose share a credential uses (see the module docstring); None: no per-key cap.

    ``minted_by`` is a client secret's minter's cap key (recorded when it was minted), ``end_user`` the
    request's ``OpenAI-Safety-Identifier``, believed only from a trusted key.
    """
    if kind == "ephemeral":
        return minted_by or key_id
    if key_id in trusted:
        return f"{key_id}/{end_user[:_MAX_IDENTIFIER]}" if end_user else None
    return key_id


class Capacity:
    """The live calls and WebSocket sessions, each under its cap key; :meth:`admit` or refuse."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._calls: dict[Hashable, str | None] = {}
        self._sessions: dict[Hashable, str | None] = {}

    @property
    def calls(self) -> int:
        """Live calls (half-open ones included)."""
        return len(self._calls)

    @property
    def sessions(self) -> int:
        """Live WebSocket sessions."""
        return len(self._sessions)

    def check(self, kind: str, key: str | None) -> None:
        """Raise the documented error when one more ``kind`` (``"call"``/``"session"``) for ``key`` is
        over a limit."""
        limits = self.limits
        if self.calls + self.sessions >= limits.total or (kind == "call" and self.calls >= limits.calls):
            what = "calls" if kind == "call" and self.calls >= limits.calls else "calls and sessions"
            raise EngineAtCapacity(
                f"The engine is at capacity ({what}). Please try again later.", retry_after=RETRY_AFTER_S
            )
        if key is None:
            return
        table, limit = (
            (self._calls, limits.calls_per_key)
            if kind == "call"
            else (self._sessions, limits.sessions_per_key)
        )
        if Counter(table.values())[key] >= limit:
            noun = "calls" if kind == "call" else "WebSocket sessions"
            raise RateLimited(
                f"This API key already has {limit} live {noun}, the most allowed at once. "
                "End one, or try again later.",
                code=f"too_many_{'calls' if kind == 'call' else 'sessions'}",
                retry_after=RETRY_AFTER_S,
            )

    def admit(self, kind: str, handle: Hashable, key: str | None) -> None:
        """Check, then count ``handle`` (a call id or a session) under ``key`` until :meth:`release`."""
        self.check(kind, key)
        (self._calls if kind == "call" else self._sessions)[handle] = key

    def release(self, handle: Hashable) -> None:
        """Stop counting ``handle``. Idempotent."""
        self._calls.pop(handle, None)
        self._sessions.pop(handle, None)
