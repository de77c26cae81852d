"""OpenAI's Realtime API (or any server speaking it) through the official ``openai`` SDK."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import openai
from openai import AsyncOpenAI
from openai.resources.realtime.realtime import AsyncRealtimeConnection
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidHandshake, InvalidStatus

from voxgate.adapters.upstream.base import ClientSecret, CreatedCall
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

__all__ = ["OpenAIUpstream"]

# Anything shaped like an OpenAI key, in case an upstream message quotes one (OpenAI's 401 does, masked).
_KEYLIKE = re.compile(r"\b(sk|ek)-[A-Za-z0-9_*\-]{6,}|\bsk_[A-Za-z0-9_*\-]{6,}")


class OpenAIUpstream:
    """Mints client secrets with ``client.realtime.client_secrets.create``; owns its HTTP client."""

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
        self._api_key = api_key
        self._client: AsyncOpenAI | None = None
        if api_key:
            self._client = AsyncOpenAI(
                api_key=api_key,
                base_url=self.base_url,
                timeout=timeout,
                max_retries=0,
            )

    def _require_client(self) -> AsyncOpenAI:
        if self._client is None:
            raise UpstreamNotConfigured(
                "No OpenAI API key is configured: set OPENAI_API_KEY in the environment or in .env."
            )
        return self._client

    def _scrub(self, text: str) -> str:
        if self._api_key:
            text = text.replace(self._api_key, "[redacted]")
        return _KEYLIKE.sub("[redacted]", text)

    def _translate(self, exc: Exception) -> UpstreamError:
        """Map an SDK exception to ours, once, here (httpx's ``map_httpcore_exceptions`` habit)."""
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
            retry = exc.response.headers.get("retry-after", "")
            retry_after = int(float(retry)) if retry.replace(".", "", 1).isdigit() else 1
            return UpstreamBusy(
                "The upstream is rate limiting voxgate; try again later.",
                retry_after=max(1, retry_after),
            )
        if isinstance(exc, openai.APITimeoutError | TimeoutError):
            return UpstreamTimeout(f"The upstream did not answer within {self.timeout:g} s.")
        if isinstance(exc, openai.APIConnectionError):
            return UpstreamUnreachable(f"Could not reach the upstream at {self.base_url}.")
        if isinstance(exc, openai.APIStatusError):
            body = exc.body if isinstance(exc.body, dict) else {}
            detail = body.get("error", body) if isinstance(body.get("error", body), dict) else body
            message = self._scrub(str(detail.get("message") or exc.message))
            param = detail.get("param") if isinstance(detail.get("param"), str) else None
            if exc.status_code >= 500:
                return UpstreamError(f"The upstream failed (HTTP {exc.status_code}): {message}")
            return UpstreamRejected(f"The upstream refused the request: {message}", param=param)
        return UpstreamError(f"Unexpected upstream failure: {type(exc).__name__}")

    async def create_client_secret(
        self, *, session: dict[str, Any], ttl_seconds: int, safety_identifier: str | None = None
    ) -> ClientSecret:
        """Mint an ephemeral key. Never waits longer than the configured timeout."""
        client = self._require_client()
        headers = {"OpenAI-Safety-Identifier": safety_identifier} if safety_identifier else None
        try:
            # The SDK's timeout bounds each network phase; this bounds the whole call.
            async with asyncio.timeout(self.timeout):
                result = await client.realtime.client_secrets.create(
                    expires_after={"anchor": "created_at", "seconds": ttl_seconds},
                    session=session,  # type: ignore[arg-type]
                    extra_headers=headers,
                )
        except (openai.OpenAIError, TimeoutError) as exc:
            raise self._translate(exc) from None
        return ClientSecret(
            value=result.value,
            expires_at=result.expires_at,
            session=result.session.model_dump(mode="json", exclude_unset=True),
        )

    async def create_call(
        self, *, sdp: str, session: dict[str, Any], safety_identifier: str | None = None
    ) -> CreatedCall:
        """Relay an SDP offer with the server's key (multipart ``sdp`` + ``session``, reference §2.2).

        The call id comes from ``Location`` (``/v1/realtime/calls/rtc_…``), as the official clients take it.
        A 400 (a malformed offer) is the caller's fault: :class:`~voxgate.errors.InvalidRequest` on ``sdp``.
        """
        client = self._require_client()
        headers = {"OpenAI-Safety-Identifier": safety_identifier} if safety_identifier else None
        try:
            async with asyncio.timeout(self.timeout):
                raw = await client.realtime.calls.with_raw_response.create(
                    sdp=sdp,
                    session=session,  # type: ignore[arg-type]
                    extra_headers=headers,
                )
        except openai.BadRequestError as exc:
            raise InvalidRequest(
                f"The SDP offer was refused: {self._scrub(_message(exc))}", code="invalid_offer", param="sdp"
            ) from None
        except (openai.OpenAIError, TimeoutError) as exc:
            raise self._translate(exc) from None
        call_id = raw.headers.get("location", "").rstrip("/").rsplit("/", 1)[-1]
        if not call_id:
            raise UpstreamError("The upstream answered the offer without a call id (no Location header).")
        return CreatedCall(call_id=call_id, answer_sdp=raw.http_response.text)

    @asynccontextmanager
    async def sideband(self, call_id: str) -> AsyncIterator[_Sideband]:
        """Attach to a live call over the sideband WebSocket (``/realtime?call_id=``, reference §2.5)."""
        client = self._require_client()
        try:
            async with asyncio.timeout(self.timeout):
                connection = await client.realtime.connect(call_id=call_id).enter()
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status == 404:
                raise NotFound(f"Call '{call_id}' is not live.", code="call_not_found") from None
            if status in (401, 403):
                raise UpstreamAuthFailed(
                    f"The upstream refused voxgate's key for the sideband (HTTP {status})."
                ) from None
            raise UpstreamError(f"The upstream refused the sideband (HTTP {status}).") from None
        except TimeoutError:
            raise UpstreamTimeout(f"The sideband did not open within {self.timeout:g} s.") from None
        except (OSError, InvalidHandshake, openai.OpenAIError):
            raise UpstreamUnreachable(f"Could not open a sideband at {self.base_url}.") from None
        try:
            yield _Sideband(connection)
        finally:
            await connection.close()

    async def hangup(self, call_id: str) -> None:
        """End a call; an unknown call is :class:`~voxgate.errors.NotFound`."""
        client = self._require_client()
        try:
            async with asyncio.timeout(self.timeout):
                await client.realtime.calls.hangup(call_id)
        except openai.NotFoundError:
            raise NotFound(f"Call '{call_id}' is not live.", code="call_not_found", param="call_id") from None
        except (openai.OpenAIError, TimeoutError) as exc:
            raise self._translate(exc) from None

    async def check(self) -> None:
        """List models with our key: proves the upstream is reachable and accepts the key."""
        client = self._require_client()
        try:
            async with asyncio.timeout(self.timeout):
                await client.models.with_raw_response.list()
        except (openai.OpenAIError, TimeoutError) as exc:
            raise self._translate(exc) from None

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


class _Sideband:
    """One attached sideband: raw server events in, client events out."""

    def __init__(self, connection: AsyncRealtimeConnection) -> None:
        self._connection = connection

    async def events(self) -> AsyncIterator[bytes]:
        """Raw events until the upstream closes; a lost connection raises :class:`UpstreamUnreachable`."""
        while True:
            try:
                yield await self._connection.recv_bytes()
            except ConnectionClosedOK:
                return
            except ConnectionClosed:
                raise UpstreamUnreachable("The sideband connection was lost.") from None

    async def send(self, event: dict[str, Any]) -> None:
        try:
            await self._connection.send(event)  # type: ignore[arg-type]
        except ConnectionClosed:
            raise UpstreamUnreachable("The sideband connection was lost.") from None


def _message(exc: openai.APIStatusError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    detail = body.get("error", body)
    message = detail.get("message") if isinstance(detail, dict) else None
    return str(message or exc.message)


def _error_code(exc: openai.APIStatusError) -> str | None:
    """The ``error.code`` of an OpenAI error response, if it has one."""
    body = exc.body if isinstance(exc.body, dict) else {}
    detail = body.get("error", body)
    code = detail.get("code") if isinstance(detail, dict) else None
    return code if isinstance(code, str) else None
