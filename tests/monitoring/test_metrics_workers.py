"""/metrics with two workers: ``voxgate serve --workers 2`` in front of ``voxgate engine`` (both real
processes), real traffic (mints, one past the rate limit, a relayed WebRTC call with a text turn, a refused
connect, console reports), then the counters and histograms every worker wrote, added up by whichever
worker answers the scrape."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.server import free_port
from voxgate.client import RealtimeClient, mint_from_gateway

ENGINE_KEY = "sk-test-metrics-engine-0123456789"
MINTS = 3  # and one more for the call: the limit below is 4 a minute
TEXT_TURN = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello metrics"}]}


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VOXGATE_", "PROMETHEUS_"))}
    env.pop("OPENAI_API_KEY", None)
    env.update(VOXGATE_DATA_DIR=str(tmp_path / "data"), **extra)
    return env


def _wait_healthy(url: str, process: subprocess.Popen[bytes], within: float = 90.0) -> None:
    """Until ``url`` answers HTTP (the engine has no /healthz: its 404 says it is up)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{url} exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code in (200, 404):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    pytest.fail(f"{url} did not come up within {within:g} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def deployment(tmp_path: Path, redis_url: str) -> Iterator[tuple[str, Path]]:
    """(gateway URL, data folder) of two gateway workers relaying to a standalone engine; the rate
    limits are shared in Redis, as several workers need them to be."""
    engine_port, gateway_port = free_port(), free_port()
    engine = subprocess.Popen(
        [sys.executable, "-m", "voxgate", "engine", "--port", str(engine_port)],
        env=_env(tmp_path, VOXGATE_ENGINE__API_KEYS=f'["{ENGINE_KEY}"]', VOXGATE_ENGINE__TTS="espeak"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    gateway = None
    try:
        _wait_healthy(f"http://127.0.0.1:{engine_port}", engine)
        env = _env(
            tmp_path,
            OPENAI_API_KEY=ENGINE_KEY,
            VOXGATE_UPSTREAM_URL=f"http://127.0.0.1:{engine_port}/v1",
            VOXGATE_LIMITS__MINT_PER_USER=f"{MINTS + 1}/minute",
            VOXGATE_SUPERVISOR__SCAN_INTERVAL_S="0.5",
            VOXGATE_REDIS_URL=redis_url,
            VOXGATE_REDIS_PREFIX="test-metrics-" + secrets.token_hex(4),
        )
        gateway = subprocess.Popen(
            [sys.executable, "-m", "voxgate", "serve", "--port", str(gateway_port), "--workers", "2"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{gateway_port}"
        _wait_healthy(url, gateway)
        yield url, tmp_path / "data"
    finally:
        if gateway is not None:
            _stop(gateway)
        _stop(engine)


def _voxgate(data: Path, *args: str) -> str:
    env = _env(data.parent)
    done = subprocess.run(
        [sys.executable, "-m", "voxgate", *args], env=env, cwd=data.parent, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of /metrics by (name, labels)."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    """The sum over every sample of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


async def _traffic(url: str, key: str) -> None:
    auth = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, timeout=15) as http:
        for _ in range(MINTS):  # separate connections: the kernel spreads them over the workers
            async with httpx.AsyncClient(base_url=url, timeout=15) as fresh:
                assert (await fresh.post("/api/realtime-token", headers=auth)).status_code == 200
        token = await mint_from_gateway(http, url, key)
        refused_mint = await http.post("/api/realtime-token", headers=auth)
        assert refused_mint.status_code == 429
        refused_call = await http.post(
            "/api/realtime/calls",
            content="v=0\r\n",
            headers={"Authorization": "Bearer vg_not-a-key", "Content-Type": "application/sdp"},
        )
        assert refused_call.status_code == 401
        reports = [
            {"event": "connect", "outcome": "ok", "steps": {"sdp_ms": 120.0, "total_ms": 900.0}},
            {"event": "connect", "outcome": "ice_failed", "error_code": "ice"},
        ]
        for report in reports:
            assert (await http.post("/api/client-metrics", json=report, headers=auth)).status_code == 204
        client = RealtimeClient(token.calls_url, token.value)
        await client.connect()
        try:
            await _until(lambda: value(scrape(url), "voxgate_live_calls") == 1)
            client.send({"type": "conversation.item.create", "item": TEXT_TURN})
            client.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
            while (await client.receive())["type"] != "response.done":
                pass
            await _until(lambda: value(scrape(url), "voxgate_tokens_total") > 0)
            # Hung up while the client is still on it: closed first, the call may end upstream before
            # the hangup arrives, which then has nothing to send upstream.
            call = client.location.rsplit("/", 1)[-1] if client.location else None
            assert call is not None
            assert (await http.post(f"/api/calls/{call}/hangup", headers=auth)).status_code == 204
        finally:
            await client.aclose()


async def _until(check: object, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the metrics never showed it"
        await asyncio.sleep(0.3)


@pytest.mark.redis
@pytest.mark.timeout(300)
def test_metrics_add_up_over_two_workers(deployment: tuple[str, Path]) -> None:
    url, data = deployment
    _voxgate(data, "users", "add", "ana")
    key = _key(data)
    asyncio.run(_traffic(url, key))
    asyncio.run(_until(lambda: value(scrape(url), "voxgate_call_duration_seconds_count") == 1))
    # Two workers wrote metrics (one file each per kind), and any of them answers the sum of all.
    pids = {p.stem.rsplit("_", 1)[-1] for p in (data / "metrics").glob("*.db")}
    assert len(pids) >= 2, pids
    first, second = scrape(url), scrape(url)
    for samples in (first, second):
        assert value(samples, "voxgate_secrets_minted_total", mode="relay") == MINTS + 1
        assert value(samples, "voxgate_secrets_refused_total", reason="rate_limit_exceeded") == 1
        assert value(samples, "voxgate_rate_limited_total", limit="/api/realtime-token") == 1
        assert value(samples, "voxgate_relayed_calls_total", api="realtime") == 1
        assert value(samples, "voxgate_errors_total", status="401", code="invalid_api_key") >= 1
        assert value(samples, "voxgate_errors_total", status="429") == 1
        assert value(samples, "voxgate_client_connects_total", event="connect", outcome="ok") == 1
        assert value(samples, "voxgate_client_connects_total", event="connect", outcome="ice_failed") == 1
        assert value(samples, "voxgate_client_connect_step_seconds_count", step="sdp") == 1
        assert value(samples, "voxgate_client_connect_step_seconds_sum", step="total") == pytest.approx(0.9)
        assert value(samples, "voxgate_upstream_request_seconds_count", operation="create_call") == 1
        assert value(samples, "voxgate_upstream_request_seconds_count", operation="hangup") >= 1
        assert value(samples, "voxgate_supervisor_attach_seconds_count") >= 1
        assert value(samples, "voxgate_supervisor_attach_failures_total") == 0
        assert value(samples, "voxgate_tokens_total", direction="input", modality="text") > 0
        assert value(samples, "voxgate_tokens_total", direction="output", modality="text") > 0
        assert value(samples, "voxgate_cost_usd_total") > 0
        assert value(samples, "voxgate_hangups_total", reason="hangup") == 1
        assert value(samples, "voxgate_live_calls") == 0
        assert value(samples, "voxgate_call_duration_seconds_count") == 1


def _key(data: Path) -> str:
    out = _voxgate(data, "keys", "create", "ana")
    return next(word for word in out.split() if word.startswith("vg_"))
