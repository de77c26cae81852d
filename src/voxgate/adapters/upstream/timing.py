"""Times every upstream HTTP exchange for the ``voxgate_upstream_request_seconds`` histogram.

Two httpx event hooks on the client the SDK uses: one notes when a request leaves, the other observes
the time to its response headers, labelled with the operation its path names (a bounded set: never the
path itself, which carries call ids). Requests that get no answer at all show up as errors instead.
"""

from __future__ import annotations

import time

import httpx2

from voxgate.adapters import metrics

__all__ = ["operation_of", "request_sent", "response_received"]

_STARTED = "voxgate.started"


def operation_of(request: httpx2.Request) -> str:
    """``client_secret``, ``create_call``, ``hangup``, ``check`` or ``other``, from the request's path."""
    path = request.url.path.rstrip("/")
    if path.endswith("/realtime/client_secrets"):
        return "client_secret"
    if path.endswith("/realtime/calls") and request.method == "POST":
        return "create_call"
    if path.endswith("/hangup"):
        return "hangup"
    if path.endswith("/models"):
        return "check"
    return "other"


async def request_sent(request: httpx2.Request) -> None:
    """Note when ``request`` left (in its extensions, which travel with it)."""
    request.extensions[_STARTED] = time.monotonic()


async def response_received(response: httpx2.Response) -> None:
    """Observe the time from the request leaving to these response headers."""
    started = response.request.extensions.get(_STARTED)
    if isinstance(started, float):
        seconds = time.monotonic() - started
        metrics.upstream_answered(operation_of(response.request), response.status_code, seconds)
