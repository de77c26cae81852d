"""The upstream client: the SDK's aiohttp transport (the cheap one), its keep-alive pool reused, and a
connection the server closed while idle never reused."""

from __future__ import annotations

import asyncio

import pytest

from voxgate.adapters.upstream.bounds import bounded_http_client
from voxgate.adapters.upstream.openai import OpenAIUpstream, _proxy_for
from voxgate.adapters.upstream.transport import UpstreamTransport

RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"


async def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    """The server answers with keep-alive, then closes the connection while it is idle: the next request
    must go out on a new connection (the probe saw the close), not fail on the dead one."""
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(RESPONSE)
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with bounded_http_client(5.0) as client:
        for _ in range(3):
            response = await client.post(f"http://127.0.0.1:{port}/v1/realtime/client_secrets", json={})
            assert response.status_code == 200
            await asyncio.sleep(0.2)
    server.close()
    await server.wait_closed()
    assert connections == 3


async def test_kept_alive_connections_are_reused() -> None:
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while True:
            try:
                await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            writer.write(RESPONSE)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = bounded_http_client(5.0)
    try:
        assert isinstance(client._transport, UpstreamTransport)
        for _ in range(5):
            assert (await client.post(f"http://127.0.0.1:{port}/v1/x", json={})).status_code == 200
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()
    assert connections == 1


def test_the_sideband_proxy_is_read_from_the_environment_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """What websockets would find on every connect, found once when the adapter is built."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert _proxy_for("https://api.openai.com/v1") is None
    monkeypatch.setenv("https_proxy", "http://proxy.example:3128")
    assert _proxy_for("https://api.openai.com/v1") == "http://proxy.example:3128"
    upstream = OpenAIUpstream(base_url="https://api.openai.com/v1", api_key="sk-test")
    assert upstream._sideband_proxy == "http://proxy.example:3128"
    monkeypatch.setenv("no_proxy", "api.openai.com")
    assert _proxy_for("https://api.openai.com/v1") is None
