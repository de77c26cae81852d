"""The OpenAI key never leaves the server: not in a response, a header, a log line or a database row."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import CANARY_KEY, Gateway
from tests.support.fake_openai import MODES, FakeOpenAIState
from voxgate.adapters.sql.tables import metadata
from voxgate.web.pages import STATIC_DIR


def _all_text(response: httpx.Response) -> str:
    return response.text + "\n" + "\n".join(f"{k}: {v}" for k, v in response.headers.items())


async def test_canary_key_never_leaks(
    gateway_factory: Any, fake_openai: FakeOpenAIState, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    async with gateway_factory(upstream_timeout=0.3) as gw:
        _, key = await gw.user_with_key()
        fake_openai.slow_seconds = 1.0
        for mode in MODES:
            fake_openai.mode = mode
            seen.append(_all_text(await gw.mint(key)))
            seen.append(_all_text(await gw.client.get("/readyz")))
            gw.app.state.upstream_ok_at = -1e9  # ask the upstream again each round
        fake_openai.mode = "ok"
        for path in ("/", "/healthz", "/openapi.json", "/docs", "/api/me", "/static/signin.js", "/nope"):
            seen.append(_all_text(await gw.client.get(path)))
        seen.append(_all_text(await gw.mint(key, {"session": {"instructions": CANARY_KEY}})))
        async with gw.services.db.engine.connect() as conn:
            for table in metadata.sorted_tables:
                rows = (await conn.execute(select(table))).all()
                seen.append(repr(rows))
        seen.append(repr(gw.services.settings))
        seen.append(gw.services.settings.model_dump_json())
    # The fake upstream really was sent the key (so the test would notice a leak path).
    assert any(CANARY_KEY in r["headers"].get("authorization", "") for r in fake_openai.requests)
    seen.extend(record.getMessage() for record in caplog.records)
    seen.extend(caplog.text.splitlines())
    for text in seen:
        assert CANARY_KEY not in text
        assert CANARY_KEY[:20] not in text
    for path in STATIC_DIR.rglob("*"):
        if path.is_file():
            assert CANARY_KEY not in path.read_text(errors="ignore")


async def test_client_supplied_canary_in_session_is_refused_not_echoed(gateway: Gateway) -> None:
    _, key = await gateway.user_with_key()
    response = await gateway.mint(key, {"session": {"instructions": CANARY_KEY}})
    assert response.status_code == 400
    assert CANARY_KEY not in response.text
