"""One log line per request, and a request id carried into every line the request causes.

:class:`RequestLog` (pure ASGI, so streaming and WebSockets pass through untouched) gives each HTTP
request an id, puts it in a context variable for the request's duration and answers it in
``X-Request-ID``. Whatever the request logs (and the tasks it starts: asyncio copies the context into
them) carries the id, through :class:`RequestIdFilter`. The access line names the method, the path (never
the query string, which may carry a credential), the status and the time taken. The hot paths (engine
media, console reports, /metrics, health probes) log it at DEBUG unless they fail, so an operator at INFO
sees what people did, not every frame.
"""

from __future__ import annotations

import contextvars
import logging
import re
import secrets
import time
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["REQUEST_ID_HEADER", "RequestIdFilter", "RequestLog", "current_request_id"]

REQUEST_ID_HEADER = "x-request-id"
# An id a caller (or its proxy) sends is kept only when it looks like an id, so no header text (a
# newline, a credential pasted by mistake, kilobytes of it) reaches the logs.
_GOOD_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("voxgate_request_id", default=None)
access_log = logging.getLogger("voxgate.access")


def current_request_id() -> str | None:
    """The id of the request this code runs for, if any."""
    return _request_id.get()


class RequestIdFilter(logging.Filter):
    """Sets ``record.request_id`` (``-`` outside a request) on every record a handler emits."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = _request_id.get() or "-"
        return True


class RequestLog:
    """Gives each request an id and logs one line when it ends. ``quiet`` are path prefixes whose
    successful requests are logged at DEBUG only."""

    def __init__(self, app: ASGIApp, *, quiet: Iterable[str] = (), enabled: bool = True) -> None:
        self.app = app
        self.quiet = tuple(quiet)
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_id(scope) or "req_" + secrets.token_hex(8)
        token = _request_id.set(request_id)
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.enabled:
                self._log(scope, status, time.perf_counter() - started)
            _request_id.reset(token)

    def _log(self, scope: Scope, status: int, seconds: float) -> None:
        path = str(scope.get("path", ""))
        quiet = status < 400 and path.startswith(self.quiet)
        # INFO even for a 5xx: the error handler has already logged why, at WARNING or ERROR.
        level = logging.DEBUG if quiet else logging.INFO
        if access_log.isEnabledFor(level):
            access_log.log(
                level, "%s %s %d %.1f ms", scope.get("method", "-"), path[:300], status, seconds * 1000
            )


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == REQUEST_ID_HEADER.encode():
            text = value.decode("latin-1")
            return text if _GOOD_ID.match(text) else None
    return None
