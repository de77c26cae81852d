"""Liveness and readiness.

``/readyz`` is anonymous, so nothing it does may be driven by its callers' rate:

* the upstream's state comes from :class:`~voxgate.adapters.upstream.health.UpstreamHealth`: the outcome
  of real calls and of a background probe that runs at a fixed pace (at most every 5 s while healthy,
  every 2 s while failing) while someone asks. A request never makes an upstream call of its own; a
  failure seen by a mint or a relay shows at once.
* the database and Redis checks (local, cheap) run at most once per ``LOCAL_CHECK_TTL`` whatever the
  traffic, one at a time (concurrent requests share the one in flight), each bounded in time.

Details are voxgate's own sentences and error codes: nothing the upstream said, and never a key.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from voxgate.web.auth import services_of
from voxgate.web.services import Services

router = APIRouter(tags=["health"])

#: How long one database/Redis check answers for (both outcomes).
LOCAL_CHECK_TTL = 1.0
#: Bound on each local check.
LOCAL_CHECK_TIMEOUT = 2.0
#: Longest a readiness request waits for the upstream probe in flight, beyond the upstream's own bound.
UPSTREAM_WAIT_SLACK = 0.5


@dataclass
class _LocalChecks:
    """The last database/Redis results, and the lock that makes concurrent requests share one check."""

    results: dict[str, str] = field(default_factory=dict)
    at: float = float("-inf")
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def get(self, services: Services) -> dict[str, str]:
        async with self.lock:
            if time.monotonic() - self.at >= LOCAL_CHECK_TTL:
                self.results = await _run_local_checks(services)
                self.at = time.monotonic()
            return dict(self.results)


async def _run_local_checks(services: Services) -> dict[str, str]:
    checks: dict[str, str] = {}
    try:
        await services.db.ping(timeout=LOCAL_CHECK_TIMEOUT)
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"failed: {type(exc).__name__}"
    if services.limiter.backend == "redis":
        try:
            async with asyncio.timeout(LOCAL_CHECK_TIMEOUT):
                checks["redis"] = "ok" if await services.limiter.ping() else "failed"
        except Exception as exc:
            checks["redis"] = f"failed: {type(exc).__name__}"
    return checks


def _local_checks(request: Request) -> _LocalChecks:
    state = request.app.state
    checks = getattr(state, "readiness_local_checks", None)
    if checks is None:
        checks = state.readiness_local_checks = _LocalChecks()
    assert isinstance(checks, _LocalChecks)
    return checks


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Not ready: `checks` says what fails."}})
async def readyz(request: Request) -> JSONResponse:
    """Database, Redis (when configured) and the upstream all answer (briefly cached, see above)."""
    services = services_of(request)
    checks: dict[str, Any] = await _local_checks(request).get(services)
    upstream = await services.upstream.health.report(
        wait=services.settings.upstream_timeout + UPSTREAM_WAIT_SLACK
    )
    # Defence in depth: the detail is voxgate's own text, but scrub it like anything upstream-related.
    scrubber = getattr(services.upstream, "scrubber", None)
    checks["upstream"] = scrubber.text(upstream.detail, keylike=True) if scrubber else upstream.detail
    failing = [name for name, result in checks.items() if result != "ok"]
    headers = {"Cache-Control": "no-store"}
    if failing:
        body = {
            "error": {
                "type": "server_error",
                "code": "not_ready",
                "message": "Not ready: " + "; ".join(f"{n} {checks[n]}" for n in failing),
                "param": None,
            },
            "checks": checks,
        }
        return JSONResponse(body, status_code=503, headers=headers)
    return JSONResponse({"status": "ready", "checks": checks}, headers=headers)
