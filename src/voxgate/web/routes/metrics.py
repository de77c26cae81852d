"""``GET /metrics``: every worker's Prometheus metrics, for loopback callers or with the metrics token.

With ``PROMETHEUS_MULTIPROC_DIR`` set (``voxgate serve --workers N`` sets it) each worker writes its values
to files there and any worker answers the sum over all of them (prometheus-client's multiprocess mode);
without it the process's own registry answers. Who may read: a caller on this machine (the client
address as :func:`~voxgate.web.auth.client_ip` sees it, so a trusted proxy's callers are not "local"),
or one presenting ``VOXGATE_MONITORING__METRICS_TOKEN`` as a bearer token.
"""

from __future__ import annotations

import hmac
import ipaddress
import os

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from voxgate.errors import AuthenticationFailed, NotFound, PermissionDenied
from voxgate.web.auth import client_ip, services_of

__all__ = ["MULTIPROC_ENV", "is_loopback", "router"]

router = APIRouter(tags=["monitoring"])
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def is_loopback(address: str) -> bool:
    """True for 127.0.0.0/8 and ::1 (and the in-process test client's ``testclient``)."""
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _authorize(request: Request) -> None:
    monitoring = services_of(request).settings.monitoring
    if not monitoring.metrics_enabled:
        raise NotFound("Not found.", code="not_found")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    expected = monitoring.metrics_token.get_secret_value() if monitoring.metrics_token else None
    if expected and scheme.lower() == "bearer":
        if hmac.compare_digest(token.strip().encode(), expected.encode()):
            return
        raise AuthenticationFailed("Invalid metrics token.", code="invalid_api_key")
    if is_loopback(client_ip(request)):
        return
    if expected:
        raise AuthenticationFailed("Send the metrics token as a bearer token.", code="missing_api_key")
    raise PermissionDenied(
        "/metrics answers this machine only; set VOXGATE_MONITORING__METRICS_TOKEN to read it from afar."
    )


def _exposition() -> bytes:
    directory = os.environ.get(MULTIPROC_ENV)
    if not directory:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """The Prometheus text exposition of voxgate's metrics."""
    _authorize(request)
    return Response(_exposition(), media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
