"""``create_app(settings)``: the FastAPI application and its lifespan."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

import voxgate
from voxgate.core.probe import ProbeRunner
from voxgate.settings import Settings
from voxgate.web.body_limits import BodyLimits
from voxgate.web.errors import install_error_handlers
from voxgate.web.local_engine import EMBEDDED_PREFIX, EngineMount, build_engine, internal_key
from voxgate.web.log_format import configure_logging
from voxgate.web.openapi import install_openapi
from voxgate.web.outages import install_outage_handlers
from voxgate.web.pages import DOCS_ASSETS_DIR, STATIC_DIR
from voxgate.web.pages import router as pages_router
from voxgate.web.probe_schedule import open_probe_schedule
from voxgate.web.redaction import install_redactor
from voxgate.web.request_log import RequestLog
from voxgate.web.routes.account import router as account_router
from voxgate.web.routes.admin import pages as admin_pages
from voxgate.web.routes.admin import router as admin_router
from voxgate.web.routes.admin_calls import router as admin_calls_router
from voxgate.web.routes.calls import router as calls_router
from voxgate.web.routes.dashboard import router as dashboard_router
from voxgate.web.routes.events import router as events_router
from voxgate.web.routes.health import router as health_router
from voxgate.web.routes.live import router as live_router
from voxgate.web.routes.metrics import router as metrics_router
from voxgate.web.routes.relay import router as relay_router
from voxgate.web.routes.token import router as token_router
from voxgate.web.security import SecurityHeaders, origin_of
from voxgate.web.services import calls_url, open_services
from voxgate.web.tracing import install_tracing, telemetry_options

__all__ = ["create_app", "create_app_from_env"]

log = logging.getLogger("voxgate")
#: Allocations between collections of the youngest generation under ``voxgate serve``.
GC_YOUNG_THRESHOLD = 20_000
# Requests logged at DEBUG when they succeed: media and reports arrive many times a second or minute.
QUIET_PATHS = (EMBEDDED_PREFIX, "/api/client-metrics", "/metrics", "/healthz", "/readyz", "/static/")


def create_app(settings: Settings, *, freeze_heap: bool = False, probe: ProbeRunner | None = None) -> FastAPI:
    """The voxgate web app. Services open in the lifespan and close in reverse order.

    ``freeze_heap`` (what ``voxgate serve`` asks for) moves everything loaded at startup, the speech
    models above all, out of the garbage collector's reach once the services are open: without it a
    full collection stalled the event loop, and every call's audio, for ~100 ms now and then; and it
    collects the youngest generation less often (:data:`GC_YOUNG_THRESHOLD`). It acts
    on the whole process, so an app embedded in another program leaves it off. ``probe`` runs the
    synthetic probe call on a schedule, when the settings enable it (:mod:`voxgate.web.probe_schedule`).
    """
    engine_key = internal_key() if settings.uses_embedded_engine else None
    secrets = [engine_key] if engine_key else []
    if settings.openai_api_key is not None:
        secrets.append(settings.openai_api_key.get_secret_value())
    install_redactor(secrets)
    engine_mount = EngineMount() if engine_key else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if engine_mount is not None:
                # Built before the gateway's services, so it closes after them.
                engine = await build_engine(settings, stack, [engine_key] if engine_key else [])
                engine_mount.attach(engine)
                app.state.engine = engine
            app.state.services = await open_services(settings, stack, engine_key)
            app.state.probe = open_probe_schedule(settings, probe, engine_key, app.state.services.db, stack)
            if stop_tracing is not None:
                stack.callback(stop_tracing)
            if freeze_heap:
                gc.collect()  # so that no garbage is frozen with the rest
                gc.freeze()
                # A request allocates more objects than the default threshold (700), so the youngest
                # generation was collected on nearly every request: mints/s at 64 connections rose
                # 6-20 % (CPU per mint 1.02-1.12 -> 0.88-0.96 ms, bench/floor.md) with it raised.
                gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
            yield

    app = FastAPI(
        title="voxgate",
        version=voxgate.__version__,
        summary="A safe gateway for OpenAI Realtime voice assistants.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        **telemetry_options(),
    )
    install_error_handlers(app)
    install_outage_handlers(app)
    install_openapi(app)
    app.include_router(health_router)
    app.include_router(metrics_router)
    app.include_router(dashboard_router)
    app.include_router(account_router)
    app.include_router(token_router)
    app.include_router(relay_router)
    app.include_router(live_router)
    app.include_router(calls_router)
    app.include_router(events_router)
    app.include_router(admin_router)
    app.include_router(admin_calls_router)
    app.include_router(admin_pages)
    app.include_router(pages_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.mount("/docs-assets", StaticFiles(directory=str(DOCS_ASSETS_DIR)), name="docs-assets")
    if engine_mount is not None:
        app.mount(EMBEDDED_PREFIX, engine_mount, name="engine")

    # Only in ephemeral mode does the browser talk to the upstream itself; relayed, it talks to voxgate.
    upstream_calls = calls_url(settings) if settings.console_mode == "ephemeral" else None
    calls_origin = origin_of(upstream_calls) if upstream_calls else None
    # Bodies are bounded before anything reads them (the embedded engine bounds its own). Added first, so
    # that its own 413s still pass through the security headers added below.
    app.add_middleware(BodyLimits, exempt=(EMBEDDED_PREFIX,))
    app.add_middleware(SecurityHeaders, connect_origins=[calls_origin] if calls_origin else [])
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "DELETE"],
            # The Agents SDK sends X-OpenAI-Agents-SDK with its offer, and reads the call id from Location.
            allow_headers=["Authorization", "Content-Type", "X-OpenAI-Agents-SDK"],
            expose_headers=[
                "Location",
                "Retry-After",
                "RateLimit-Limit",
                "RateLimit-Remaining",
                "RateLimit-Reset",
            ],
        )
    # Outermost: the request id is set before anything else runs, and the line is logged after it all.
    app.add_middleware(RequestLog, quiet=QUIET_PATHS, enabled=settings.monitoring.access_log)
    stop_tracing = install_tracing(app, settings.otel_endpoint)
    return app


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` workers: Settings from the environment, built here at the edge."""
    settings = Settings()
    # Each worker is a fresh process: its logging is configured here, as `voxgate serve` does for one.
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings, freeze_heap=True)
