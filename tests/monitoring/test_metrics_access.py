"""Who may read /metrics: this machine freely, anyone else only with the metrics token."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from voxgate.web.routes.metrics import is_loopback

TOKEN = "metrics-token-0123456789abcdef"


def from_afar(gw: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=gw.app, client=("203.0.113.7", 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.mark.parametrize(("address", "local"), [("127.0.0.1", True), ("::1", True), ("10.0.0.1", False)])
def test_loopback(address: str, local: bool) -> None:
    assert is_loopback(address) is local


async def test_open_on_loopback_refused_from_afar_without_a_token(gateway_factory: Any) -> None:
    async with gateway_factory() as gw:
        local = await gw.client.get("/metrics")
        assert local.status_code == 200
        assert local.headers["content-type"].startswith("text/plain")
        assert "# TYPE voxgate_secrets_minted_total counter" in local.text
        async with from_afar(gw) as remote:
            refused = await remote.get("/metrics")
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "forbidden"


async def test_a_bearer_token_opens_it_from_afar(gateway_factory: Any) -> None:
    async with gateway_factory(monitoring={"metrics_token": TOKEN}) as gw, from_afar(gw) as remote:
        assert (await remote.get("/metrics")).status_code == 401
        wrong = await remote.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        good = await remote.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert good.status_code == 200
        assert "# TYPE voxgate_relayed_calls_total counter" in good.text


async def test_it_can_be_turned_off(gateway_factory: Any) -> None:
    async with gateway_factory(monitoring={"metrics_enabled": False}) as gw:
        assert (await gw.client.get("/metrics")).status_code == 404
