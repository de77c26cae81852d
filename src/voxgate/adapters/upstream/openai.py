"""OpenAI's Realtime API (or any server speaking it) through the official ``openai`` SDK.

The SDK makes the requests; what comes back is bounded (:mod:`.bounds`: no redirects, capped bodies),
validated (:mod:`.answers`: a malformed answer is a 502 ``upstream_bad_response``, never a 500) and
scrubbed of the server's key and its parts (:mod:`.scrub`) before anything else sees it, sideband
events included. Every outcome is reported to :attr:`OpenAIUpstream.health` for ``/readyz``.

Minting and relaying, the hot paths, go through the SDK client's own ``post`` (its auth, timeouts,
retries off, error types) with the body already built: the session comes from voxgate's policy, which
has validated it, and the resource methods' per-call transform of it against the SDK's ``TypedDict``
(about 2 ms of CPU for a policy session) and their response wrapping bought nothing here.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import openai
from openai import AsyncOpenAI
from openai._models import SecurityOptions  # the types of the client's documented `post`
from openai._types import RequestOptions
from websockets.exceptions import (
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
)
from websockets.uri import get_proxy, parse_uri

from voxgate.adapters.upstream import answers
from voxgate.adapters.upstream.base import ClientSecret, CreatedCall
from voxgate.adapters.upstream.bounds import BadUpstreamResponse, bounded_http_client
from voxgate.adapters.upstream.health import UpstreamHealth
from voxgate.adapters.upstream.scrub import Scrubber
from voxgate.adapters.upstream.sideband import ScrubbedSideband
from voxgate.errors import (
    InvalidRequest,
    NotFound,
    UpstreamAuthFailed,
    UpstreamBusy,
    UpstreamError,
    UpstreamNotConfigured,
    UpstreamQuotaExhausted,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnreachable,
)

__all__ = ["MAX_SIDEBAND_EVENT_BYTES", "OpenAIUpstream"]

# What the SDK's resource methods send with the server's key (its ``security`` request option).
_BEARER: SecurityOptions = {"bearer_auth": True}

#: The largest sideband event accepted (``conversation.item.retrieved`` carries a turn's audio).
MAX_SIDEBAND_EVENT_BYTES = 16 * 1024 * 1024


class OpenAIUpstream:
    """Mints client secrets, relays offers, hangs up and attaches sidebands with the server's key."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        timeout: float = 10.0,
        calls_url: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.calls_url = calls_url or f"{self.base_url}/realtime/calls"
        self.timeout = timeout
        #: Scrubs the server's key (and its parts) out of everything upstream-derived.
        self.scrubber = Scrubber([api_key])
        self.health = UpstreamHealth(self._check)
        self._client: AsyncOpenAI | None = None
        self._sideband_proxy = _proxy_for(self.base_url)
        # httpx logs every request at INFO: on the hot path the gateway's own access line is the one line.
        logging.getLogger("httpx2").setLevel(max(logging.WARNING, logging.getLogger("httpx2").level))
        if api_key:
            self._client = AsyncOpenAI(
                api_key=api_key,
                base_url=self.base_url,
                timeout=timeout,
                max_retries=0,
                http_client=bounded_http_client(timeout),
            )

    def _require_client(self) -> AsyncOpenAI:
        if self._client is None:
            raise UpstreamNotConfigured(
                "No OpenAI API key is configured: set OPENAI_API_KEY in the environment or in .env."
            )
        return self._client

    def _failed(self, error: UpstreamError) -> UpstreamError:
        self.health.record_failure(error)
        return error

    def _translate(self, exc: Exception) -> UpstreamError:
        """Map an SDK exception to ours, once, here (httpx's ``map_httpcore_exceptions`` habit)."""
        return self._failed(self._map(exc))

    def _map(self, exc: Exception) -> UpstreamError:
        if isinstance(exc, BadUpstreamResponse):
            return answers.bad_response(str(exc).rstrip("."))
        if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
            return UpstreamAuthFailed(
                f"The upstream rejected voxgate's API key (HTTP {exc.status_code}); "
                "check OPENAI_API_KEY on the server."
            )
        if isinstance(exc, openai.RateLimitError) and _error_code(exc) == "insufficient_quota":
            return UpstreamQuotaExhausted(
                "The OpenAI account behind voxgate has no quota left; its administrator has to add "
                "credits or raise its limits."
            )
        if isinstance(exc, openai.RateLimitError):
            return UpstreamBusy(
                "The upstream is rate limiting voxgate; try again later.",
                retry_after=answers.retry_after(exc.response.headers.get("retry-after")),
            )
        if isinstance(exc, openai.APITimeoutError | TimeoutError):
            return UpstreamTimeout(f"The upstream did not answer within {self.timeout:g} s.")
        if isinstance(exc, openai.APIConnectionError):
            return UpstreamUnreachable(f"Could not reach the upstream at {self.base_url}.")
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            if 300 <= status < 400:
                return answers.bad_response(f"a redirect (HTTP {status}), which voxgate does not follow")
            if status < 200 or status >= 600:
                return answers.bad_response(f"HTTP {status}")
            message, param, _ = answers.error_detail(exc.body, exc.message, self.scrubber)
            if status >= 500:
                return UpstreamError(f"The upstream failed (HTTP {status}): {message}")
            return UpstreamRejected(f"The upstream refused the request: {message}", param=param)
        return UpstreamError(f"Unexpected upstream failure: {type(exc).__name__}")

    async def create_client_secret(
        self, *, session: dict[str, Any], ttl_seconds: int, safety_identifier: str | None = None
    ) -> ClientSecret:
        """Mint an ephemeral key. Never waits longer than the configured timeout."""
        client = self._require_client()
        headers = {"OpenAI-Safety-Identifier": safety_identifier} if safety_identifier else {}
        try:
            # The SDK's timeout bounds each network phase; this bounds the whole call.
            async with asyncio.timeout(self.timeout):
                raw = await client.post(
                    "/realtime/client_secrets",
                    cast_to=httpx2.Response,
                    body={
                        "expires_after": {"anchor": "created_at", "seconds": ttl_seconds},
                        "session": session,
                    },
                    options=_options(headers),
                )
        except (openai.OpenAIError, TimeoutError) as exc:
            raise self._translate(exc) from None
        try:
            secret = answers.client_secret(raw.content, self.scrubber)
        except UpstreamError as exc:
            raise self._failed(exc) from None
        self.health.record_ok()
        return secret

    async def create_call(
        self, *, sdp: str, session: dict[str, Any], safety_identifier: str | None = None
    ) -> CreatedCall:
        """Relay an SDP offer with the server's key (multipart ``sdp`` + ``session``, reference §2.2).

        The call id comes from ``Location`` (``/v1/realtime/calls/rtc_…``), as the official clients take it.
        A 400 (a malformed offer) is the caller's fault: :class:`~voxgate.errors.InvalidRequest` on ``sdp``.
        """
        client = self._require_client()
        headers = {"Accept": "application/sdp", "Content-Type": "multipart/form-data"}
        if safety_identifier:
            headers["OpenAI-Safety-Identifier"] = safety_identifier
        # The parts as the SDK's calls.create encodes them (encode_multipart: the SDP raw, the session JSON).
        parts = [
            ("sdp", (None, sdp.encode(), "application/sdp")),
            ("session", (None, json.dumps(session, separators=(",", ":")).encode(), "application/json")),
        ]
        try:
            async with asyncio.timeout(self.timeout):
                raw = await client.post(
                    "/realtime/calls",
                    cast_to=httpx2.Response,
                    files=parts,
                    options=_options(headers),
                )
        except openai.BadRequestError as exc:
            message, _, _ = answers.error_detail(exc.body, exc.message, self.scrubber)
            self.health.record_ok()  # it answered, and the fault was the offer's
            raise InvalidRequest(
                f"The SDP offer was refused: {message}", code="invalid_offer", param="sdp"
            ) from None
        except (openai.OpenAIError, TimeoutError) as exc:
            raise self._translate(exc) from None
        try:
            call_id = answers.call_id_from_location(raw.headers.get("location"), self.scrubber)
            answer = answers.sdp_answer(raw.content, self.scrubber)
        except UpstreamError as exc:
            raise self._failed(exc) from None
        self.health.record_ok()
        return CreatedCall(call_id=call_id, answer_sdp=answer)

    @asynccontextmanager
    async def sideband(self, call_id: str) -> AsyncIterator[ScrubbedSideband]:
        """Attach to a live call over the sideband WebSocket (``/realtime?call_id=``, reference §2.5).

        Its events are scrubbed of the server's key before the caller (the supervisor, the ledger) sees
        them; the SDK refuses cross-origin redirects of the WebSocket handshake.
        """
        client = self._require_client()
        try:
            async with asyncio.timeout(self.timeout):
                connection = await client.realtime.connect(
                    call_id=call_id,
                    websocket_connection_options={
                        "max_size": MAX_SIDEBAND_EVENT_BYTES,
                        "compression": None,
                        # Passed on to websockets.connect as they are; the SDK's TypedDict lacks it.
                        "proxy": self._sideband_proxy,  # type: ignore[typeddict-unknown-key]
                    },
                ).enter()
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status == 404:
                self.health.record_ok()
                raise NotFound(f"Call '{call_id}' is not live.", code="call_not_found") from None
            if status in (401, 403):
                error: UpstreamError = UpstreamAuthFailed(
                    f"The upstream refused voxgate's key for the sideband (HTTP {status})."
                )
            else:
                error = UpstreamError(f"The upstream refused the sideband (HTTP {status}).")
            raise self._failed(error) from None
        except TimeoutError:
            error = UpstreamTimeout(f"The sideband did not open within {self.timeout:g} s.")
            raise self._failed(error) from None
        except (OSError, InvalidHandshake, openai.OpenAIError):
            error = UpstreamUnreachable(f"Could not open a sideband at {self.base_url}.")
            raise self._failed(error) from None
        self.health.record_ok()
        try:
            yield ScrubbedSideband(connection, self.scrubber)
        finally:
            await connection.close()

    async def hangup(self, call_id: str) -> None:
        """End a call; an unknown call is :class:`~voxgate.errors.NotFound`."""
        client = self._require_client()
        try:
            async with asyncio.timeout(self.timeout):
                await client.realtime.calls.with_raw_response.hangup(call_id)
        except openai.NotFoundError:
            self.health.record_ok()
            raise NotFound(f"Call '{call_id}' is not live.", code="call_not_found", param="call_id") from None
        except (openai.OpenAIError, TimeoutError) as exc:
            raise self._translate(exc) from None
        self.health.record_ok()

    async def check(self) -> None:
        """List models with our key: proves the upstream is reachable and accepts the key. A real
        request each time: ``/readyz`` reads :attr:`health` instead."""
        try:
            await self._check()
        except UpstreamError as exc:
            raise self._failed(exc) from None
        self.health.record_ok()

    async def _check(self) -> None:
        client = self._require_client()
        try:
            async with asyncio.timeout(self.timeout):
                await client.models.with_raw_response.list()
        except (openai.OpenAIError, TimeoutError) as exc:
            raise self._map(exc) from None

    async def aclose(self) -> None:
        await self.health.aclose()
        if self._client is not None:
            await self._client.close()
            self._client = None


def _proxy_for(base_url: str) -> str | bool | None:
    """The proxy for sideband WebSockets to ``base_url``, found in the environment once (websockets looks
    it up on every connect otherwise: ~3 % of a relayed call's CPU); True lets websockets look."""
    try:
        return get_proxy(parse_uri(base_url.replace("http", "ws", 1) + "/realtime"))
    except (InvalidURI, ValueError):
        return True


def _options(headers: dict[str, str]) -> RequestOptions:
    return {"headers": headers, "security": _BEARER}


def _error_code(exc: openai.APIStatusError) -> str | None:
    """The ``error.code`` of an OpenAI error response, if it has one."""
    body = exc.body if isinstance(exc.body, dict) else {}
    detail = body.get("error", body)
    code = detail.get("code") if isinstance(detail, dict) else None
    return code if isinstance(code, str) else None
