"""OpenTelemetry traces (VOXGATE_OTEL_ENDPOINT): a server span per request from the standard FastAPI
instrumentation, spans for the upstream's HTTP exchanges and the supervisor's sideband attach, caught
here by an in-memory exporter on the process's tracer provider (which voxgate then keeps)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.support.fake_openai import FakeOpenAIState

OFFER = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()


async def test_mint_relay_upstream_and_attach_are_traced(
    gateway_factory: Any, fake_openai: FakeOpenAIState, spans: InMemorySpanExporter
) -> None:
    spans.clear()
    async with gateway_factory(otel_endpoint="http://127.0.0.1:9") as gw:
        attached = asyncio.Event()
        gw.services.supervisor.on_attached = lambda call: attached.set()
        _, key = await gw.user_with_key()
        assert (await gw.mint(key)).status_code == 200
        relayed = await gw.client.post(
            "/api/realtime/calls",
            content=OFFER,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/sdp"},
        )
        assert relayed.status_code == 201, relayed.text
        async with asyncio.timeout(10):
            await attached.wait()
        assert (await gw.client.get("/healthz")).status_code == 200
    names = [s.name for s in spans.get_finished_spans()]
    assert "POST /api/realtime-token" in names
    assert "POST /api/realtime/calls" in names
    assert "upstream client_secret" in names
    assert "upstream create_call" in names
    assert "supervisor attach" in names
    assert "/healthz" not in " ".join(names)  # health probes are not traced
    mint = next(s for s in spans.get_finished_spans() if s.name == "POST /api/realtime-token")
    upstream = next(s for s in spans.get_finished_spans() if s.name == "upstream client_secret")
    assert upstream.attributes is not None
    assert upstream.attributes["http.response.status_code"] == 200
    # The upstream span sits inside the mint's time.
    assert mint.start_time is not None and upstream.start_time is not None
    assert mint.start_time <= upstream.start_time


async def test_one_server_span_per_request_and_none_for_the_hot_paths(
    gateway_factory: Any, spans: InMemorySpanExporter
) -> None:
    spans.clear()
    async with gateway_factory(otel_endpoint="http://127.0.0.1:9") as gw:
        assert (await gw.client.get("/api/me")).status_code == 401
        assert (await gw.client.get("/metrics")).status_code == 200
        assert (await gw.client.get("/static/app.js")).status_code == 200
    servers = [s.name for s in spans.get_finished_spans() if s.kind == trace.SpanKind.SERVER]
    assert servers == ["GET /api/me"]
