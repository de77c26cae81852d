"""Budget fixtures: a gateway in relay mode in front of the real local engine (its echo assistant stands
in for OpenAI, and its usage is priced like the model the call names), and aiortc callers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tests.engine.conftest import API_KEY, EngineServer, loopback_ice, make_server
from voxgate.engine.config import EngineConfig

__all__ = ["loopback_ice", "make_server"]


@pytest.fixture
def budget_gateway(
    gateway_factory: Any, make_server: Callable[..., Awaitable[EngineServer]]
) -> Callable[..., Any]:
    """Start a relay-mode gateway on a fresh engine with the given settings overrides."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[Any]:
        engine = await make_server(EngineConfig(api_keys=frozenset({API_KEY})))
        values = {"upstream_url": engine.base_url, "OPENAI_API_KEY": API_KEY, "console_mode": "relay"}
        async with gateway_factory(**{**values, **overrides}) as gw:
            yield gw

    return start
