"""How ``voxgate serve`` sizes itself, and the one log line a mint leaves."""

from __future__ import annotations

import logging
import os
from typing import Any

import pytest

from voxgate.settings import Settings
from voxgate.web.server import MAX_DEFAULT_WORKERS, default_workers


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_one_worker_per_core_only_when_workers_share_their_state() -> None:
    cores = len(os.sched_getaffinity(0))
    # The embedded engine keeps calls in its process; without Redis each worker would have its own limits.
    assert default_workers(_settings()) == 1
    assert default_workers(_settings(OPENAI_API_KEY="sk-x", upstream_url="http://127.0.0.1:9/v1")) == 1
    shared = _settings(
        OPENAI_API_KEY="sk-x", upstream_url="http://127.0.0.1:9/v1", redis_url="redis://127.0.0.1:6379/0"
    )
    assert default_workers(shared) == min(cores, MAX_DEFAULT_WORKERS)


async def test_a_mint_logs_no_upstream_request_line(gateway: Any, caplog: pytest.LogCaptureFixture) -> None:
    _, key = await gateway.user_with_key()
    with caplog.at_level(logging.INFO):
        assert (await gateway.mint(key)).status_code == 200
    # (The test's own client is httpx; the gateway's upstream client is httpx2.)
    assert not [r for r in caplog.records if r.name.startswith("httpx2")], caplog.text
    assert len([r for r in caplog.records if r.name.startswith("voxgate")]) <= 1, caplog.text
