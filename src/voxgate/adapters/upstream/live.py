"""GPT-Live (``/live/sessions``) through the official ``openai`` SDK, beside the Realtime upstream.

It rides on an :class:`~voxgate.adapters.upstream.openai.OpenAIUpstream`: the same client (server key,
bounded HTTP), the same error mapping, scrubber and health, so a Live failure reads exactly like a
Realtime one. GPT-Live has no client secrets and no ``Location``: a session is created with JSON
``{session, transport: {type: "webrtc", sdp}}`` and its id comes back in the body (reference
openai-gpt-live.md §1); it is watched and ended through its sideband (``…/{id}/attach``, §3).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

import openai
from websockets.exceptions import InvalidHandshake, InvalidStatus

from voxgate.adapters.upstream import answers
from voxgate.adapters.upstream.base import CreatedCall, Sideband
from voxgate.adapters.upstream.openai import MAX_SIDEBAND_EVENT_BYTES, OpenAIUpstream
from voxgate.adapters.upstream.scrub import Scrubber
from voxgate.adapters.upstream.sideband import ScrubbedSideband
from voxgate.errors import (
    InvalidRequest,
    NotFound,
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnreachable,
)

__all__ = ["LiveUpstream", "OpenAILiveUpstream"]

# The spec's pattern for Live session ids (``live_…``), loosened to any id-like token for other servers.
_SESSION_ID = re.compile(r"[A-Za-z0-9_\-]{1,160}")
# Reflected input and output audio, as OpenAI and the engine write them ("type" first).
_REFLECTED_AUDIO = re.compile(rb'\{\s*"type"\s*:\s*"session\.(?:input_audio\.append|output_audio\.delta)"')


class LiveUpstream(Protocol):
    """A GPT-Live API: OpenAI itself or a server that speaks it (the local engine)."""

    async def create_session(self, *, sdp: str, session: dict[str, Any]) -> CreatedCall:
        """Create a WebRTC session (``POST /live/sessions``) with the server's key. Raises
        :class:`~voxgate.errors.InvalidRequest` for an offer or session the upstream refused."""
        ...

    def sideband(self, session_id: str) -> AbstractAsyncContextManager[Sideband]:
        """Attach to a live session. Entering raises :class:`~voxgate.errors.NotFound` when it is not
        live, or an :class:`~voxgate.errors.UpstreamError`."""
        ...

    async def hangup(self, session_id: str) -> None:
        """``POST /live/sessions/{id}/hangup`` (documented for SIP; the fallback when no sideband opens).
        Raises :class:`~voxgate.errors.NotFound` when the session is over."""
        ...


class OpenAILiveUpstream:
    """Creates and attaches to GPT-Live sessions with the server's key, through ``upstream``'s client."""

    def __init__(self, upstream: OpenAIUpstream) -> None:
        self._upstream = upstream

    async def create_session(self, *, sdp: str, session: dict[str, Any]) -> CreatedCall:
        """``client.live.create``; a 400 is the caller's fault (:class:`InvalidRequest`, its ``param``
        kept), anything else maps like the Realtime relay's failures."""
        up = self._upstream
        client = up._require_client()
        try:
            async with asyncio.timeout(up.timeout):
                raw = await client.live.with_raw_response.create(
                    session=session,  # type: ignore[arg-type]
                    transport={"type": "webrtc", "sdp": sdp},
                )
        except openai.BadRequestError as exc:
            message, param, code = answers.error_detail(exc.body, exc.message, up.scrubber)
            up.health.record_ok()  # it answered, and the fault was the request's
            raise InvalidRequest(
                f"The upstream refused the session: {message}", code=code or "invalid_request", param=param
            ) from None
        except (openai.OpenAIError, TimeoutError) as exc:
            raise up._translate(exc) from None
        try:
            created = _created(raw.http_response.content, up.scrubber)
        except UpstreamError as exc:
            raise up._failed(exc) from None
        up.health.record_ok()
        return created

    @asynccontextmanager
    async def sideband(self, session_id: str) -> AsyncIterator[Sideband]:
        """``client.live.sideband.connect``, without the SDK's own reconnects (the supervisor re-attaches,
        and knows when a session is over); events are scrubbed of the server's key."""
        up = self._upstream
        client = up._require_client()
        try:
            async with asyncio.timeout(up.timeout):
                connection = await client.live.sideband.connect(
                    session_id=session_id,
                    max_retries=0,
                    websocket_connection_options={"max_size": MAX_SIDEBAND_EVENT_BYTES, "compression": None},
                ).__aenter__()
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status == 404:
                up.health.record_ok()
                raise NotFound(f"Session '{session_id}' is not live.", code="session_not_found") from None
            error: UpstreamError = (
                UpstreamAuthFailed(f"The upstream refused voxgate's key for the sideband (HTTP {status}).")
                if status in (401, 403)
                else UpstreamError(f"The upstream refused the sideband (HTTP {status}).")
            )
            raise up._failed(error) from None
        except TimeoutError:
            raise up._failed(UpstreamTimeout(f"The sideband did not open within {up.timeout:g} s.")) from None
        except (OSError, InvalidHandshake, openai.OpenAIError):
            raise up._failed(UpstreamUnreachable(f"Could not open a sideband at {up.base_url}.")) from None
        up.health.record_ok()
        try:
            yield ScrubbedSideband(connection, up.scrubber, skip=_REFLECTED_AUDIO)
        finally:
            await connection.close()

    async def hangup(self, session_id: str) -> None:
        """``client.live.sessions.hangup``; an unknown session is :class:`~voxgate.errors.NotFound`."""
        up = self._upstream
        client = up._require_client()
        try:
            async with asyncio.timeout(up.timeout):
                await client.live.sessions.with_raw_response.hangup(session_id)
        except openai.NotFoundError:
            up.health.record_ok()
            raise NotFound(f"Session '{session_id}' is not live.", code="session_not_found") from None
        except (openai.OpenAIError, TimeoutError) as exc:
            raise up._translate(exc) from None
        up.health.record_ok()


def _created(body: bytes, scrubber: Scrubber) -> CreatedCall:
    """``{session: {id}, transport: {type: "webrtc", sdp}}`` (201), or a 502."""
    document = answers._json_object(body)
    session, transport = document.get("session"), document.get("transport")
    session_id = session.get("id") if isinstance(session, dict) else None
    if not isinstance(session_id, str) or not _SESSION_ID.fullmatch(session_id) or scrubber.leaks(session_id):
        raise answers.bad_response("no usable session id")
    sdp = transport.get("sdp") if isinstance(transport, dict) else None
    if not isinstance(sdp, str):
        raise answers.bad_response("no SDP answer")
    return CreatedCall(call_id=session_id, answer_sdp=answers.sdp_answer(sdp.encode(), scrubber))
