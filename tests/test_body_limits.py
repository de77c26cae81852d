"""What an anonymous client can make the server spend: bodies bounded in size and time before any parsing,
stalled headers cut off, and anonymous failures sampled in the audit log."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.conftest import Gateway
from tests.support.server import free_port
from voxgate.web import server as server_module
from voxgate.web.body_limits import BodyLimits
from voxgate.web.errors import install_error_handlers


def _assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"type", "code", "message", "param"}
    assert error["code"] == code


@pytest.mark.parametrize(
    ("path", "limit"),
    [("/api/auth/signin", 4096), ("/api/realtime-token", 16384), ("/api/client-metrics", 16384)],
)
async def test_a_declared_oversized_body_is_refused_before_parsing(
    gateway: Gateway, path: str, limit: int
) -> None:
    body = b'{"x": "' + b"a" * limit + b'"}'
    response = await gateway.client.post(path, content=body, headers={"Content-Type": "application/json"})
    _assert_error(response, 413, "payload_too_large")
    assert "content-security-policy" in response.headers
    # Just under the limit is parsed as usual (and refused for what it says, not for its size).
    small = await gateway.client.post(path, content=b"{}", headers={"Content-Type": "application/json"})
    assert small.status_code != 413


async def test_a_streamed_body_without_length_is_counted(gateway: Gateway) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b"v=0\r\n" * 200  # 1 kB each: 100 kB in all, past the relay's 64 KiB

    _, key = await gateway.user_with_key()
    response = await gateway.client.post(
        "/api/realtime/calls",
        content=chunks(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/sdp"},
    )
    _assert_error(response, 413, "payload_too_large")


async def test_a_body_that_trickles_in_is_cut_off() -> None:
    async def echo(request: Request) -> JSONResponse:
        return JSONResponse({"size": len(await request.body())})

    app = Starlette(routes=[Route("/api/x", echo, methods=["POST"])])
    install_error_handlers(app)  # type: ignore[arg-type]
    app.add_middleware(BodyLimits, read_timeout=0.2)

    async def slow() -> AsyncIterator[bytes]:
        yield b"a"
        await asyncio.sleep(1.0)
        yield b"b"

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        _assert_error(await client.post("/api/x", content=slow()), 408, "request_timeout")
        assert (await client.post("/api/x", content=b"ab")).json() == {"size": 2}


async def test_anonymous_failures_are_sampled_in_the_audit(gateway: Gateway) -> None:
    for _ in range(25):
        await gateway.mint("vg_" + "x" * 40)
    rows = await gateway.services.accounts.list_mints()
    # One row per address and outcome per minute, not one per request.
    assert len(rows) <= 2
    assert {row.outcome for row in rows} <= {"invalid_api_key", "too_many_auth_failures"}
    assert all(row.user_id is None for row in rows)


@pytest.fixture
def header_timeout_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    async def ok(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    monkeypatch.setattr(server_module, "HEADER_TIMEOUT_S", 0.3)
    port = free_port()
    config = uvicorn.Config(
        Starlette(routes=[Route("/", ok)]),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        **server_module.server_options(),  # type: ignore[arg-type]
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield port
    server.should_exit = True
    thread.join(timeout=10)


def test_a_client_that_never_finishes_its_headers_is_disconnected(header_timeout_server: int) -> None:
    assert httpx.get(f"http://127.0.0.1:{header_timeout_server}/").json() == {"ok": True}
    with socket.create_connection(("127.0.0.1", header_timeout_server)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        sock.settimeout(10)
        assert sock.recv(1024) == b""  # closed by the server, not by this test's timeout
