"""Where a command-line call goes: a calls URL and a key, or a voxgate gateway that mints an ``ek_`` key.

The rules (the CLI documents them in ``--help``):

* ``gateway`` given: mint at ``{gateway}/api/realtime-token`` with ``key`` (a voxgate key) and use the
  returned ``ek_…`` key and ``calls_url``.
* otherwise the calls URL is ``url`` or, by default, :data:`LOCAL_ENGINE_CALLS_URL` (``voxgate engine``
  on its default port). Without ``key``, OpenAI's URL falls back to ``openai_key`` and any other URL to
  ``engine_key`` (the caller reads them from its configuration).
* a standard key sends a ``session`` with the call: ``{"type": "realtime"}`` plus ``model`` when one is
  given, or :data:`OPENAI_DEFAULT_MODEL` for OpenAI, which needs one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import httpx

from voxgate.client.errors import RealtimeClientError
from voxgate.client.signaling import is_ephemeral_key, mint_from_gateway

__all__ = [
    "LOCAL_ENGINE_CALLS_URL",
    "OPENAI_CALLS_URL",
    "OPENAI_DEFAULT_MODEL",
    "Target",
    "is_openai",
    "resolve_target",
]

LOCAL_ENGINE_CALLS_URL = "http://127.0.0.1:8100/v1/realtime/calls"
OPENAI_CALLS_URL = "https://api.openai.com/v1/realtime/calls"
OPENAI_DEFAULT_MODEL = "gpt-realtime-2.1"


@dataclass(frozen=True, slots=True)
class Target:
    """A resolved destination: what :class:`~voxgate.client.RealtimeClient` is built from."""

    calls_url: str
    key: str
    session: dict[str, Any] | None


def is_openai(url: str) -> bool:
    """True for URLs on OpenAI's API host."""
    return httpx.URL(url).host == "api.openai.com"


async def resolve_target(
    http: httpx.AsyncClient,
    *,
    url: str | None = None,
    gateway: str | None = None,
    key: str | None = None,
    model: str | None = None,
    openai_key: str | None = None,
    engine_key: str | None = None,
) -> Target:
    """Apply the rules of the module docstring; raises :class:`RealtimeClientError` when they can't be met."""
    if gateway:
        if url:
            raise RealtimeClientError("give either a calls URL or a gateway, not both")
        if not key:
            raise RealtimeClientError("a gateway needs a voxgate API key (vg_…) to mint with")
        token = await mint_from_gateway(http, gateway, key)
        # Without VOXGATE_PUBLIC_URL the gateway answers with a path on its own site.
        calls_url = urljoin(gateway.rstrip("/") + "/", token.calls_url)
        return Target(calls_url=calls_url, key=token.value, session=None)
    calls_url = url or LOCAL_ENGINE_CALLS_URL
    openai = is_openai(calls_url)
    key = key or (openai_key if openai else engine_key)
    if not key:
        where = "OPENAI_API_KEY" if openai else "VOXGATE_ENGINE__API_KEYS"
        raise RealtimeClientError(f"no key for {calls_url}: pass a key or set {where}")
    if is_ephemeral_key(key):
        return Target(calls_url=calls_url, key=key, session=None)
    session: dict[str, Any] = {"type": "realtime"}
    if model or openai:
        session["model"] = model or OPENAI_DEFAULT_MODEL
    return Target(calls_url=calls_url, key=key, session=session)
