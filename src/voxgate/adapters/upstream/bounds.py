"""Bounds on what the upstream may send back, enforced in the HTTP client the official SDK uses.

The SDK's own client follows redirects (to any origin) and reads bodies of any size. Ours:

* follows no redirect: a 3xx reaches the adapter, which answers 502 (``upstream_bad_response``);
* reads at most ``MAX_JSON_BYTES`` of a body (``MAX_SDP_BYTES`` of an SDP answer), checked against
  ``Content-Length`` first and then counted as it arrives, so a body that lies about its length or has
  none is cut off too;
* asks for uncompressed bodies and refuses compressed ones (a size cap on compressed bytes bounds
  nothing: a small gzip body can inflate a thousandfold).

A body over its bound raises :class:`BadUpstreamResponse`, an ``openai.OpenAIError`` so that the SDK
passes it through unwrapped, and the connection is closed rather than drained.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2
import openai

from voxgate.adapters.upstream import timing
from voxgate.adapters.upstream.transport import UpstreamTransport

__all__ = [
    "MAX_ERROR_MESSAGE",
    "MAX_JSON_BYTES",
    "MAX_SDP_BYTES",
    "BadUpstreamResponse",
    "bounded_http_client",
    "clip",
]

MAX_JSON_BYTES = 1024 * 1024
MAX_SDP_BYTES = 256 * 1024
#: Longest upstream error message carried into one of ours.
MAX_ERROR_MESSAGE = 500


class BadUpstreamResponse(openai.OpenAIError):
    """The upstream answered something voxgate will not read (too large, compressed, malformed)."""


def clip(text: str, limit: int = MAX_ERROR_MESSAGE) -> str:
    """``text`` cut to ``limit`` characters (with an ellipsis when cut)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def body_limit(request: httpx2.Request) -> int:
    """The largest body voxgate reads in answer to ``request``: an SDP answer, or JSON."""
    if request.method == "POST" and request.url.path.rstrip("/").endswith("/realtime/calls"):
        return MAX_SDP_BYTES
    return MAX_JSON_BYTES


class _CappedStream(httpx2.AsyncByteStream):
    """A response body that raises once more than ``limit`` bytes have arrived."""

    def __init__(self, inner: httpx2.AsyncByteStream, limit: int) -> None:
        self._inner = inner
        self._limit = limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in self._inner:
            seen += len(chunk)
            if seen > self._limit:
                raise BadUpstreamResponse(f"The upstream's answer is larger than {self._limit} bytes.")
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


async def _bound_response(response: httpx2.Response) -> None:
    """Response hook: runs before the body is read (and before any redirect would be followed)."""
    limit = body_limit(response.request)
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise BadUpstreamResponse(f"The upstream sent a compressed answer ({encoding}) it was not asked for.")
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise BadUpstreamResponse(f"The upstream's answer is larger than {limit} bytes.")
    stream = response.stream
    assert isinstance(stream, httpx2.AsyncByteStream)
    response.stream = _CappedStream(stream, limit)


def bounded_http_client(timeout: float) -> httpx2.AsyncClient:
    """The HTTP client to give ``AsyncOpenAI(http_client=…)``: the SDK's aiohttp client
    (:mod:`.transport`), bounded as above."""
    return openai.DefaultAioHttpClient(
        timeout=timeout,
        transport=UpstreamTransport(),
        follow_redirects=False,
        headers={"Accept-Encoding": "identity"},
        event_hooks={
            "request": [timing.request_sent],
            "response": [_bound_response, timing.response_received],
        },
    )
