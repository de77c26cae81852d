"""uvicorn's HTTP protocol with a header read timeout.

uvicorn bounds the idle time between requests on a kept-alive connection (``timeout_keep_alive``) but
not the time a client takes to send a request's headers: a client that opens connections and trickles
header bytes (slowloris) holds them forever. This protocol closes a connection whose request headers are
not complete ``HEADER_TIMEOUT_S`` after it opened, or after the previous response ended. Request bodies
are bounded in time by :class:`voxgate.web.body_limits.BodyLimits`.
"""

from __future__ import annotations

import asyncio
import os

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from voxgate.settings import Settings

__all__ = [
    "HEADER_TIMEOUT_S",
    "KEEP_ALIVE_S",
    "MAX_DEFAULT_WORKERS",
    "MAX_HEADER_BYTES",
    "HeaderTimeoutProtocol",
    "default_workers",
    "server_options",
]

HEADER_TIMEOUT_S = 10.0
KEEP_ALIVE_S = 5
#: Largest request head (request line and headers) the h11 parser buffers, if uvicorn uses h11.
MAX_HEADER_BYTES = 16 * 1024
#: The most worker processes ``voxgate serve`` starts on its own (more cores: pass ``--workers``).
MAX_DEFAULT_WORKERS = 8


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` that closes connections whose request headers do not arrive in time."""

    _header_timer: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(HEADER_TIMEOUT_S, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def default_workers(settings: Settings) -> int:
    """How many worker processes ``voxgate serve`` starts when not told: one per core (at most
    :data:`MAX_DEFAULT_WORKERS`) when every worker shares its state through Redis, otherwise one.

    One process is what fits the other cases: the embedded engine holds its calls in memory (a hangup must
    reach the process that has the call), and without Redis the rate limits live in each process's memory,
    so N workers would grant N times the configured budget.
    """
    if settings.uses_embedded_engine or not settings.redis_url:
        return 1
    return max(1, min(MAX_DEFAULT_WORKERS, len(os.sched_getaffinity(0))))


def server_options() -> dict[str, object]:
    """uvicorn options bounding what a client can hold: header time, keep-alive, header size."""
    return {
        "http": f"{__name__}:HeaderTimeoutProtocol",
        "timeout_keep_alive": KEEP_ALIVE_S,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
    }
