"""An upstream that fails in every way a real one can, for the faults suite.

:func:`create_fault_upstream` is a small ASGI app answering OpenAI's paths (``client_secrets``, ``calls``,
``models``, hangup) according to ``FaultState.mode``; :class:`ResetServer` is a raw TCP server that
resets every connection (an ASGI app cannot). Both run on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import secrets
import socket
import struct
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.fake_openai import SDP_ANSWER

FAULTS = (
    "ok",
    "hang",  # never answers (headers never come)
    "slow_body",  # headers at once, then a byte now and then, for ever
    "drop_mid_body",  # headers and half a body, then the connection closes
    "server_error",  # 500 with an OpenAI error body
    "bad_gateway_html",  # 502 with an HTML page (a proxy in between)
    "rate_limited",  # 429 with ``retry_after`` as its Retry-After
    "malformed_json",  # 200, ``application/json``, not JSON
    "wrong_shape",  # 200, valid JSON of the wrong shape
    "huge_body",  # 200 with 4 MiB, announced in Content-Length
    "huge_chunked",  # 200 with 4 MiB, chunked (no Content-Length)
    "huge_error",  # 400 with a 200 kB error message
    "gzip_bomb",  # 200, gzip, inflating to 8 MiB
    "redirect",  # 307 to ``redirect_to`` (another origin)
    "bad_location",  # a call whose Location is no call id
    "not_sdp",  # 201 with an HTML body instead of an SDP answer
)


@dataclass
class FaultState:
    mode: str = "ok"
    retry_after: str = "99999999"
    redirect_to: str = ""
    hits: list[str] = field(default_factory=list)


def _error(status: int, message: str, **headers: str) -> JSONResponse:
    body = {"error": {"message": message, "type": "server_error", "param": None, "code": None}}
    return JSONResponse(body, status_code=status, headers=headers or None)


async def _drip(request: Request) -> AsyncIterator[bytes]:
    yield b'{"value": "ek_'
    while not await request.is_disconnected():
        await asyncio.sleep(0.2)
        yield b"a"


def _ok(request: Request) -> Response:
    path = request.url.path
    if path.endswith("/client_secrets"):
        body = {"value": "ek_" + secrets.token_hex(16), "expires_at": int(time.time()) + 600, "session": {}}
        return JSONResponse(body)
    if path.endswith("/realtime/calls"):
        headers = {"Location": f"/v1/realtime/calls/rtc_{secrets.token_hex(8)}"}
        return Response(SDP_ANSWER, status_code=201, media_type="application/sdp", headers=headers)
    return JSONResponse({"object": "list", "data": []})


def create_fault_upstream(state: FaultState) -> DropMidBody:
    """The faulty upstream; ``state.mode`` picks the fault, ``state.hits`` records each request path."""

    async def handle(request: Request) -> Response:
        state.hits.append(request.url.path)
        await request.body()
        mode = state.mode
        if mode == "hang":
            while not await request.is_disconnected():  # noqa: ASYNC110 - Starlette offers no event
                await asyncio.sleep(0.05)
            return Response(status_code=204)
        if mode == "slow_body":
            return StreamingResponse(_drip(request), media_type="application/json")
        if mode == "server_error":
            return _error(500, "The server had an error while processing your request.")
        if mode == "bad_gateway_html":
            return Response("<html><body>502 Bad Gateway</body></html>", 502, media_type="text/html")
        if mode == "rate_limited":
            return _error(429, "Rate limit reached.", **{"Retry-After": state.retry_after})
        if mode == "malformed_json":
            return Response('{"value": "ek_abc", "expires_at": ', media_type="application/json")
        if mode == "wrong_shape":
            return JSONResponse({"value": 42, "expires_at": "soon", "session": []})
        if mode == "huge_body":
            return Response(b"{" + b" " * (4 * 1024 * 1024) + b"}", media_type="application/json")
        if mode == "huge_chunked":
            chunk = b" " * 65536

            async def chunks() -> AsyncIterator[bytes]:
                for _ in range(64):
                    yield chunk

            return StreamingResponse(chunks(), media_type="application/json")
        if mode == "huge_error":
            body = {"error": {"message": "x" * 200_000, "type": "invalid_request_error", "param": "y" * 5000}}
            return JSONResponse(body, status_code=400)
        if mode == "gzip_bomb":
            bomb = gzip.compress(b" " * (8 * 1024 * 1024))
            return Response(bomb, media_type="application/json", headers={"Content-Encoding": "gzip"})
        if mode == "redirect":
            return Response(status_code=307, headers={"Location": f"{state.redirect_to}{request.url.path}"})
        if mode == "bad_location" and request.url.path.endswith("/realtime/calls"):
            headers = {"Location": "/v1/realtime/calls/<script>alert(1)</script>"}
            return Response(SDP_ANSWER, status_code=201, media_type="application/sdp", headers=headers)
        if mode == "not_sdp" and request.url.path.endswith("/realtime/calls"):
            headers = {"Location": f"/v1/realtime/calls/rtc_{secrets.token_hex(8)}"}
            return Response("<html>hello</html>", status_code=201, media_type="text/html", headers=headers)
        return _ok(request)

    routes = [Route("/{path:path}", handle, methods=["GET", "POST"])]
    return DropMidBody(Starlette(routes=routes), state)


class DropMidBody:
    """ASGI middleware for ``drop_mid_body``: sends headers and half a body, then fails (uvicorn closes
    the connection with the body incomplete)."""

    def __init__(self, app: Any, state: FaultState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.state.mode != "drop_mid_body":
            await self.app(scope, receive, send)
            return
        self.state.hits.append(scope["path"])
        headers = [(b"content-type", b"application/json"), (b"content-length", b"1000")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send(
            {"type": "http.response.body", "body": json.dumps({"value": "ek_"}).encode(), "more_body": True}
        )
        raise RuntimeError("connection dropped on purpose")


class ResetServer:
    """``with ResetServer() as server: server.url``: accepts, reads a little, answers with a TCP reset."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self.port = int(self._sock.getsockname()[1])
        self.resets = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(1)
                with contextlib.suppress(OSError):
                    conn.recv(65536)
                # Linger on, for zero seconds: close() sends RST instead of FIN.
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.resets += 1

    def __enter__(self) -> ResetServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()
