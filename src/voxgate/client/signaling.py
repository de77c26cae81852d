"""The HTTP half of a WebRTC call, sans peer connection: post the SDP offer, hang up, mint via a gateway.

* ``POST {calls_url}`` with an ``ek_…`` key sends the raw offer as ``application/sdp`` (the session comes
  from the key); with a standard key it sends ``multipart/form-data`` with an ``sdp`` part and an
  optional ``session`` part (GA session JSON), per-part content types as openai-python sends them
  (reference §2.1, §2.2). Success is ``201`` with the SDP answer and a ``Location`` holding the call id.
* ``POST {calls_url}/{call_id}/hangup`` needs a standard key (reference §2.6).
* ``POST {gateway}/api/realtime-token`` is voxgate's own minting endpoint: a voxgate key in, an ``ek_``
  key and the ``calls_url`` to use out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from voxgate.client.errors import CallRejected

__all__ = [
    "Answer",
    "GatewayToken",
    "hangup_call",
    "is_ephemeral_key",
    "mint_from_gateway",
    "post_offer",
]


@dataclass(frozen=True, slots=True)
class Answer:
    """The server's answer to an offer: the SDP, the ``Location`` header and the call id taken from it."""

    sdp: str
    location: str | None
    call_id: str | None


@dataclass(frozen=True, slots=True)
class GatewayToken:
    """A client secret minted by a voxgate gateway, with where to post the offer."""

    value: str
    expires_at: int
    calls_url: str
    session: dict[str, Any]


def is_ephemeral_key(key: str) -> bool:
    """True for client secrets (``ek_…``), which carry their session and post raw SDP."""
    return key.startswith("ek_")


def _base(url: str) -> str:
    """``url`` without query or fragment and without a trailing slash."""
    return str(httpx.URL(url).copy_with(query=None, fragment=None)).rstrip("/")


def _rejected(response: httpx.Response) -> CallRejected:
    """The OpenAI-shaped error of a failed response (``{"error": {"message", "code", ...}}``)."""
    body: Any = None
    message = response.reason_phrase or "request failed"
    code = None
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        if text:
            message = text[:500]
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        message = str(error.get("message") or message)
        code = error.get("code") or None
    return CallRejected(response.status_code, message, code=code, body=body)


async def _post(http: httpx.AsyncClient, url: str, **kwargs: Any) -> httpx.Response:
    try:
        return await http.post(url, **kwargs)
    except httpx.HTTPError as exc:
        raise CallRejected(0, f"POST {_base(url)} failed: {exc or type(exc).__name__}") from exc


async def post_offer(
    http: httpx.AsyncClient,
    calls_url: str,
    key: str,
    offer_sdp: str,
    session: Mapping[str, Any] | None = None,
) -> Answer:
    """Post ``offer_sdp`` to ``calls_url``; raises :class:`CallRejected` unless the answer is a 2xx.

    ``session`` (a GA session object) can only travel with a standard key; with an ``ek_`` key the
    session is the one the key was minted with (send ``session.update`` to change it afterwards).
    """
    headers = {"Authorization": f"Bearer {key}", "Accept": "application/sdp"}
    if is_ephemeral_key(key):
        if session is not None:
            raise ValueError("an ek_ key carries its own session; send session.update after connecting")
        headers["Content-Type"] = "application/sdp"
        response = await _post(http, calls_url, content=offer_sdp.encode(), headers=headers)
    else:
        files: dict[str, tuple[None, str, str]] = {"sdp": (None, offer_sdp, "application/sdp")}
        if session is not None:
            files["session"] = (None, json.dumps(dict(session)), "application/json")
        response = await _post(http, calls_url, files=files, headers=headers)
    if not response.is_success:
        raise _rejected(response)
    location = response.headers.get("location")
    # The JS SDK's rule: the call id is the last path segment of Location (reference §2.1).
    call_id = location.rstrip("/").rsplit("/", 1)[-1] if location else ""
    return Answer(sdp=response.text, location=location, call_id=call_id or None)


async def hangup_call(http: httpx.AsyncClient, calls_url: str, key: str, call_id: str) -> None:
    """``POST {calls_url}/{call_id}/hangup``; a call that is already gone (404) is not an error."""
    url = f"{_base(calls_url)}/{call_id}/hangup"
    response = await _post(http, url, headers={"Authorization": f"Bearer {key}"})
    if not response.is_success and response.status_code != 404:
        raise _rejected(response)


async def mint_from_gateway(
    http: httpx.AsyncClient,
    gateway_url: str,
    key: str,
    session: Mapping[str, Any] | None = None,
) -> GatewayToken:
    """Mint a client secret at a voxgate gateway (``POST /api/realtime-token``) with a voxgate key.

    ``session`` is the partial session the gateway's policy lets clients choose (e.g. the voice).
    """
    url = f"{_base(gateway_url)}/api/realtime-token"
    body = {"session": dict(session)} if session is not None else {}
    response = await _post(http, url, json=body, headers={"Authorization": f"Bearer {key}"})
    if not response.is_success:
        raise _rejected(response)
    data = response.json()
    # A relative calls_url (the embedded engine) is relative to the gateway.
    calls_url = str(httpx.URL(url).join(data["calls_url"]))
    return GatewayToken(
        value=data["value"],
        expires_at=int(data["expires_at"]),
        calls_url=calls_url,
        session=data.get("session") or {},
    )
