"""Liveness and readiness."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from voxgate.errors import VoxgateError
from voxgate.web.auth import services_of

router = APIRouter(tags=["health"])

# A healthy upstream is asked again only after this long: readiness probes come often, and each
# check is a real request to (possibly) OpenAI.
UPSTREAM_CHECK_TTL = 15.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Database, Redis (when configured) and the upstream all answer."""
    services = services_of(request)
    checks: dict[str, Any] = {}
    try:
        await services.db.ping()
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"failed: {type(exc).__name__}"
    if services.limiter.backend == "redis":
        try:
            checks["redis"] = "ok" if await services.limiter.ping() else "failed"
        except Exception as exc:
            checks["redis"] = f"failed: {type(exc).__name__}"
    state = request.app.state
    if time.monotonic() - getattr(state, "upstream_ok_at", -UPSTREAM_CHECK_TTL) < UPSTREAM_CHECK_TTL:
        checks["upstream"] = "ok"
    else:
        try:
            await services.upstream.check()
            state.upstream_ok_at = time.monotonic()
            checks["upstream"] = "ok"
        except VoxgateError as exc:
            checks["upstream"] = f"failed: {exc.message}"
    failing = [name for name, result in checks.items() if result != "ok"]
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
        return JSONResponse(body, status_code=503)
    return JSONResponse({"status": "ready", "checks": checks})
