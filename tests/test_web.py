"""Web hygiene: security headers, CORS, docs served offline, health and readiness, error shapes."""

from __future__ import annotations

import gc
from typing import Any

from tests.conftest import Gateway, running
from tests.support.fake_openai import FakeOpenAIState
from voxgate.web.app import create_app


async def test_security_headers_on_pages_and_api(gateway: Gateway) -> None:
    for path in ("/", "/api/me", "/healthz"):
        response = await gateway.client.get(path)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self';" in csp
        assert "'unsafe-inline'" not in csp
        assert "frame-ancestors 'none'" in csp
        # The browser may post its SDP to the upstream (ephemeral mode), and nowhere else.
        assert "connect-src 'self' http://127.0.0.1:" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-frame-options"] == "DENY"


async def test_console_page_is_served_with_its_modules(gateway: Gateway) -> None:
    page = await gateway.client.get("/")
    assert page.status_code == 200
    assert 'type="module" src="/static/app.js"' in page.text
    assert "<script>" not in page.text  # no inline scripts: the CSP forbids them
    assert " style=" not in page.text  # nor inline styles
    modules = [
        "app", "api", "call", "errors", "eventlog", "events", "history", "i18n", "meters", "mic",
        "session", "signin", "talk", "token", "transcript",
    ]  # fmt: skip
    assets = [f"/static/{name}.js" for name in modules] + ["/static/boot.js", "/static/style.css"]
    assets += [f"/static/locales/{lang}.json" for lang in ("en", "es", "fr", "de", "zh", "ja")]
    for asset in assets:
        response = await gateway.client.get(asset)
        assert response.status_code == 200, asset
    assert (await gateway.client.get("/signin")).text == page.text


async def test_cors_is_same_origin_only_by_default(gateway: Gateway) -> None:
    preflight = await gateway.client.options(
        "/api/realtime-token",
        headers={"Origin": "https://other.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers


async def test_cors_allow_list(gateway_factory: Any) -> None:
    async with gateway_factory(cors_origins="https://app.example, https://admin.example") as gw:
        allowed = await gw.client.options(
            "/api/realtime-token",
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
        )
        denied = await gw.client.get("/healthz", headers={"Origin": "https://other.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert allowed.headers["access-control-allow-credentials"] == "true"
    assert "access-control-allow-origin" not in denied.headers


async def test_docs_work_offline(gateway: Gateway) -> None:
    docs = await gateway.client.get("/docs")
    assert docs.status_code == 200
    assert "cdn" not in docs.text.lower()
    for src in ("/docs-assets/swagger-ui-bundle.js", "/docs-assets/swagger-ui.css", "/static/docs.js"):
        assert src in docs.text
        assert (await gateway.client.get(src)).status_code == 200
    schema = (await gateway.client.get("/openapi.json")).json()
    assert "/api/realtime-token" in schema["paths"]
    assert "/api/auth/signin" in schema["paths"]


async def test_health_and_readiness(gateway: Gateway, fake_openai: FakeOpenAIState) -> None:
    assert (await gateway.client.get("/healthz")).json() == {"status": "ok"}
    ready = await gateway.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "upstream": "ok"}


async def test_readiness_fails_when_upstream_refuses_our_key(
    gateway: Gateway, fake_openai: FakeOpenAIState
) -> None:
    fake_openai.mode = "unauthorized"
    ready = await gateway.client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["error"]["code"] == "not_ready"
    assert "OPENAI_API_KEY" in ready.json()["checks"]["upstream"]


async def test_readiness_checks_redis(
    gateway_factory: Any, redis_url: str, fake_openai: FakeOpenAIState
) -> None:
    async with gateway_factory(redis_url=redis_url) as gw:
        ready = await gw.client.get("/readyz")
    assert ready.json()["checks"]["redis"] == "ok"


async def test_unknown_route_and_method_use_the_error_shape(gateway: Gateway) -> None:
    missing = await gateway.client.get("/api/nothing")
    assert missing.status_code == 404
    assert set(missing.json()["error"]) == {"type", "code", "message", "param"}
    wrong = await gateway.client.get("/api/realtime-token")
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "method_not_allowed"


async def test_serve_freezes_what_startup_loaded(make_settings: Any) -> None:
    """``voxgate serve`` (``freeze_heap=True``) keeps startup's objects out of the collector's passes;
    an app embedded elsewhere (the default) leaves the process's collector alone."""
    assert gc.get_freeze_count() == 0
    async with running(create_app(make_settings()), "http://testserver"):
        assert gc.get_freeze_count() == 0
    try:
        async with running(create_app(make_settings(), freeze_heap=True), "http://testserver") as client:
            assert gc.get_freeze_count() > 10_000
            assert (await client.get("/healthz")).status_code == 200
    finally:
        gc.unfreeze()


async def test_start_warns_of_models_with_an_announced_shutdown(
    make_settings: Any, caplog: Any, fake_openai: FakeOpenAIState
) -> None:
    settings = make_settings(policy={"model": "gpt-realtime", "transcription_model": "whisper-1"})
    with caplog.at_level("WARNING", logger="voxgate"):
        async with running(create_app(settings)):
            pass
    warned = " ".join(r.getMessage() for r in caplog.records if r.name == "voxgate")
    assert "gpt-realtime" in warned and "2027-01-20" in warned
    assert "whisper-1" in warned and "2027-02-26" in warned
    caplog.clear()
    with caplog.at_level("WARNING", logger="voxgate"):
        async with running(create_app(make_settings())):
            pass
    assert not [r for r in caplog.records if "shut" in r.getMessage()], "the defaults have no shutdown date"
