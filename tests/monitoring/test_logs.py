"""Logs: one line per request with its request id, carried into every line the request causes; the hot
paths quiet; structured formats that are one line per record and never carry a secret."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import CANARY_KEY
from tests.test_canary import assert_no_canary
from voxgate.web.log_format import configure_logging
from voxgate.web.request_log import current_request_id


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """The root logger writing JSON lines to a buffer (as `voxgate serve` with VOXGATE_LOG_FORMAT=json)."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    configure_logging("debug", "json", stream)
    yield stream
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


async def test_one_line_per_request_with_its_id_in_every_line_it_causes(
    gateway_factory: Any, log_lines: io.StringIO
) -> None:
    async with gateway_factory() as gw:
        _, key = await gw.user_with_key()
        minted = await gw.mint(key)
        assert minted.status_code == 200, minted.text
        request_id = minted.headers["x-request-id"]
        assert request_id.startswith("req_")
        lines = records(log_lines)
        mine = [r for r in lines if r["request_id"] == request_id]
        access = [r for r in mine if r["logger"] == "voxgate.access"]
        assert len(access) == 1, mine
        assert access[0]["message"].startswith("POST /api/realtime-token 200 ")
        assert access[0]["level"] == "info"
        # The mint's own debug line was caused by the request and carries its id.
        assert any(r["logger"] == "voxgate.mint" for r in mine), mine
        # An id from the caller is kept when it looks like one, replaced when it does not.
        ok = await gw.client.get("/healthz", headers={"X-Request-ID": "lb-0123456789"})
        assert ok.headers["x-request-id"] == "lb-0123456789"
        bad = await gw.client.get("/healthz", headers={"X-Request-ID": "no\tgood"})
        assert bad.headers["x-request-id"].startswith("req_")
    assert current_request_id() is None


async def test_hot_paths_are_quiet_at_info_unless_they_fail(
    gateway_factory: Any, log_lines: io.StringIO
) -> None:
    async with gateway_factory() as gw:
        _, key = await gw.user_with_key()
        auth = {"Authorization": f"Bearer {key}"}
        report = {"event": "connect", "outcome": "ok", "steps": {"sdp_ms": 12.5}}
        assert (await gw.client.post("/api/client-metrics", json=report, headers=auth)).status_code == 204
        assert (await gw.client.get("/healthz")).status_code == 200
        assert (await gw.client.get("/metrics")).status_code == 200
        refused = await gw.client.post("/api/client-metrics", json={"event": "nope"}, headers=auth)
        assert refused.status_code == 400
    access = [r for r in records(log_lines) if r["logger"] == "voxgate.access"]
    by_path = {r["message"].split(" ")[1]: r["level"] for r in access if " 400 " not in r["message"]}
    assert by_path == {"/api/client-metrics": "debug", "/healthz": "debug", "/metrics": "debug"}
    failed = [r for r in access if " 400 " in r["message"]]
    assert [r["level"] for r in failed] == ["info"]


def test_structured_lines_are_one_line_each_and_carry_no_secret() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        for fmt in ("json", "logfmt", "text"):
            configure_logging("info", fmt, stream)
            from voxgate.web.redaction import install_redactor

            install_redactor([CANARY_KEY])
            log = logging.getLogger("voxgate.test")
            log.warning("key %s\nsecond line", CANARY_KEY, extra={"leak": CANARY_KEY})
            try:
                raise RuntimeError(f"boom {CANARY_KEY}")
            except RuntimeError:
                log.exception("failed")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    text = stream.getvalue()
    assert_no_canary("log lines", text)
    json_lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert [r["message"] for r in json_lines] == ["key [redacted]\nsecond line", "failed"]
    assert "RuntimeError: boom [redacted]" in json_lines[1]["exception"]
    logfmt = [line for line in text.splitlines() if line.startswith("time=")]
    assert len(logfmt) == 2
    assert 'message="key [redacted]\\nsecond line"' in logfmt[0]


def test_chatty_libraries_are_quiet_at_info_and_heard_at_debug() -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging("info", "json", io.StringIO())
        assert logging.getLogger("aioice.ice").getEffectiveLevel() == logging.WARNING
        assert logging.getLogger("httpx").getEffectiveLevel() == logging.WARNING
        assert logging.getLogger("voxgate.relay").getEffectiveLevel() == logging.INFO
        configure_logging("debug", "json", io.StringIO())
        assert logging.getLogger("aioice.ice").getEffectiveLevel() == logging.DEBUG
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for name in ("aioice", "aiortc", "httpx", "httpx2", "websockets"):
            logging.getLogger(name).setLevel(logging.NOTSET)
