"""Request bodies are bounded before anything parses them: in size, per route, and in time.

Anyone can send a body, signed in or not, so the limit is enforced here, in front of authentication and
parsing: a declared ``Content-Length`` over the limit is refused at once (413), and a body without one
(chunked) is counted as it streams in and refused as soon as it passes the limit. A body that trickles in
slower than ``read_timeout`` in total is refused with 408, so a stalled client cannot hold a worker.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voxgate.errors import InvalidRequest, VoxgateError
from voxgate.web.errors import error_response

__all__ = ["DEFAULT_LIMITS", "BodyLimits", "BodyTimeout", "PayloadTooLarge"]

KIB = 1024

#: Bytes allowed per path (the longest matching prefix wins). The SDP offer is a few kB, a sign-in a few
#: hundred bytes; nothing voxgate's API takes comes near these.
DEFAULT_LIMITS: dict[str, int] = {
    "/api/auth/signin": 4 * KIB,
    "/api/realtime-token": 16 * KIB,
    "/api/client-metrics": 16 * KIB,
    "/api/realtime/calls": 64 * KIB,
    "/": 16 * KIB,
}


class PayloadTooLarge(InvalidRequest):
    status_code: ClassVar[int] = 413
    default_code: ClassVar[str] = "payload_too_large"


class BodyTimeout(VoxgateError):
    status_code: ClassVar[int] = 408
    error_type: ClassVar[str] = "invalid_request_error"
    default_code: ClassVar[str] = "request_timeout"


class BodyLimits:
    """Pure ASGI middleware bounding each HTTP request body's size (per path prefix) and read time.

    Paths under one of ``exempt`` (a mounted app with limits of its own) are passed through."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limits: dict[str, int] | None = None,
        read_timeout: float = 30.0,
        exempt: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        # Longest prefix first, so that the most specific limit applies.
        self.limits = sorted((limits or DEFAULT_LIMITS).items(), key=lambda item: -len(item[0]))
        self.read_timeout = read_timeout
        self.exempt = exempt

    def limit_for(self, path: str) -> int | None:
        """The byte limit for ``path``, or None when it has none."""
        if any(path.startswith(prefix) for prefix in self.exempt):
            return None
        return next((size for prefix, size in self.limits if path.startswith(prefix)), None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.limit_for(scope["path"]) if scope["type"] == "http" else None
        if limit is None:
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            response = error_response(
                413, "invalid_request_error", "payload_too_large", _too_large(limit), None, Connection="close"
            )
            await response(scope, receive, send)
            return
        await self.app(scope, _BoundedReceive(receive, limit, self.read_timeout), send)


def _too_large(limit: int) -> str:
    return f"The request body is too large (at most {limit} bytes here)."


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class _BoundedReceive:
    """``receive`` that counts body bytes and bounds the time until the body is complete."""

    def __init__(self, receive: Receive, limit: int, timeout: float) -> None:
        self._receive = receive
        self._limit = limit
        self._timeout = timeout
        self._deadline: float | None = None
        self._received = 0
        self._complete = False

    async def __call__(self) -> Message:
        if self._complete:
            # After the body, the app only waits for a disconnect: no bound applies.
            return await self._receive()
        loop = asyncio.get_running_loop()
        if self._deadline is None:
            self._deadline = loop.time() + self._timeout
        try:
            async with asyncio.timeout_at(self._deadline):
                message = await self._receive()
        except TimeoutError:
            raise BodyTimeout(
                f"The request body did not arrive within {self._timeout:g} s.", code="request_timeout"
            ) from None
        if message["type"] == "http.request":
            self._received += len(message.get("body", b""))
            if self._received > self._limit:
                raise PayloadTooLarge(_too_large(self._limit))
            self._complete = not message.get("more_body", False)
        else:
            self._complete = True
        return message
