"""The upstream connection pool's network backend: keep-alive connections probed cheaply.

httpcore's pool, on every request it assigns and every response it releases, asks each idle connection
whether the server has closed it (``get_extra_info("is_readable")``). Through anyio that question
rebuilds the stream's attribute table each time: with 64 requests in flight (64 kept-alive
connections), that bookkeeping cost more CPU than the rest of the upstream call (measured with
cProfile: ~60 % of a mint's CPU at 64 concurrent mints). This backend is anyio's own, with each stream's
socket looked up once, so the probe is one ``poll`` on it.
"""

# The network interface httpcore defines takes per-call timeouts as parameters.
# ruff: noqa: ASYNC109

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore2
import httpx2
from httpcore2._utils import is_socket_readable  # the probe httpcore itself uses

__all__ = ["upstream_transport"]

#: As the SDK's own client (``openai.DefaultAsyncHttpxClient``) sizes its pool.
_LIMITS = httpx2.Limits(max_connections=1000, max_keepalive_connections=100, keepalive_expiry=5.0)


class _Stream(httpcore2.AsyncNetworkStream):
    """anyio's stream, with its socket remembered for the idle probe."""

    def __init__(self, inner: httpcore2.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket: socket.socket | None = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore2.AsyncNetworkStream:
        return _Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable" and self._socket is not None:
            return is_socket_readable(self._socket)
        return self._inner.get_extra_info(info)


class _Backend(httpcore2.AsyncNetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _Stream(stream)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore2.AsyncNetworkStream:
        return _Stream(await self._inner.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def upstream_transport() -> httpx2.AsyncHTTPTransport:
    """httpx's transport with the SDK's pool limits, over :class:`_Backend`."""
    transport = httpx2.AsyncHTTPTransport(limits=_LIMITS)
    # httpx builds its pool without a network backend parameter: the same pool, with ours.
    transport._pool = httpcore2.AsyncConnectionPool(
        ssl_context=httpx2.create_ssl_context(),
        max_connections=_LIMITS.max_connections,
        max_keepalive_connections=_LIMITS.max_keepalive_connections,
        keepalive_expiry=_LIMITS.keepalive_expiry,
        network_backend=_Backend(),
    )
    return transport
