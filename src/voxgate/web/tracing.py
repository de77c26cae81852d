"""OpenTelemetry traces, when ``VOXGATE_OTEL_ENDPOINT`` is set and the ``[otel]`` extra is installed.

A server span per request comes from FastAPI's own telemetry (FastAPI 0.16x and later: it traces to the
global provider by itself) or, on older FastAPI, from opentelemetry-instrumentation-fastapi; either way
mint and relay among them, and never both;
the upstream's HTTP exchanges and the supervisor's sideband attaches become spans in
:mod:`voxgate.adapters.metrics`, through the OpenTelemetry API alone (a no-op until a provider is set).
Spans go to the endpoint over OTLP/HTTP. A process that already has an SDK tracer provider (started
under ``opentelemetry-instrument``, or a test with an in-memory exporter) keeps it and its exporters.
The hot paths (engine media, health, metrics, static files) are not traced.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from starlette.types import Scope

__all__ = ["EXCLUDED_URLS", "NATIVE_TELEMETRY", "install_tracing", "telemetry_options"]

log = logging.getLogger("voxgate")
EXCLUDED_URLS = "/metrics,/healthz,/readyz,/engine/.*,/static/.*,/api/client-metrics"
_EXCLUDED_PREFIXES = ("/metrics", "/healthz", "/readyz", "/engine/", "/static/", "/api/client-metrics")
NATIVE_TELEMETRY = importlib.util.find_spec("fastapi.telemetry") is not None


def _excluded(scope: Scope) -> bool:
    return str(scope.get("path", "")).startswith(_EXCLUDED_PREFIXES)


def telemetry_options() -> dict[str, Any]:
    """Keyword arguments for ``FastAPI(...)``: its own telemetry, where it has one, skips the hot paths,
    and sends no exception text as OpenTelemetry logs (those would bypass voxgate's secret scrubbing:
    exceptions reach the operator through the scrubbed log lines instead)."""
    return {"telemetry": {"exclude": _excluded, "logs": False}} if NATIVE_TELEMETRY else {}


def install_tracing(app: FastAPI, endpoint: str | None) -> Callable[[], None] | None:
    """Trace ``app`` to ``endpoint``; returns what flushes and stops the exporter (None if not tracing)."""
    if not endpoint:
        return None
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.error("VOXGATE_OTEL_ENDPOINT is set, but OpenTelemetry is not: pip install 'voxgate[otel]'")
        return None
    current = trace.get_tracer_provider()
    owned = not isinstance(current, TracerProvider)
    if isinstance(current, TracerProvider):
        provider = current
    else:
        provider = TracerProvider(resource=Resource.create({"service.name": "voxgate"}))
        exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")
        provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
    if not NATIVE_TELEMETRY:
        FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls=EXCLUDED_URLS)

    def stop() -> None:
        # Flush what is pending; shut down only the provider this function made.
        provider.force_flush()
        if owned:
            provider.shutdown()

    return stop
