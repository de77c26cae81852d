"""The GPT-Live WebSockets: the primary ``/v1/live/sessions`` and the sideband
``/v1/live/sessions/{id}/attach`` (reference §2 and §3).

Both authenticate with the ``Authorization`` header only (no subprotocol, no query). On the primary the
first event must be ``session.start``: anything else first gets an ``error`` and the socket waits on;
the session starts with ``session.started`` and lives until ``session.closed`` or until the client
leaves (then its sidebands see ``connection_lost``). A sideband gets a short replay (the session's
``session.started``), then every event and the audio of both directions; leaving detaches only the
observer. Refusals before the handshake are OpenAI-shaped HTTP errors (404 for an unknown or ended
session, 429/503 over a cap) when the server can send them, else an ``error`` event and close 1008.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable

from starlette.responses import JSONResponse
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from voxgate.engine.live.client_events import ClientEventError, parse_client_event
from voxgate.engine.live.events import error_event
from voxgate.engine.live.live_session import LiveSession
from voxgate.engine.live.settings import parse_live_session
from voxgate.engine.server.engine import Engine
from voxgate.engine.server.keys import bearer_token
from voxgate.errors import InvalidRequest, VoxgateError

__all__ = ["live_attach_websocket", "live_websocket"]


async def _refuse(ws: WebSocket, error: VoxgateError) -> None:
    if "websocket.http.response" in ws.scope.get("extensions", {}):
        headers = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else None
        body = JSONResponse({"error": error.to_dict()}, status_code=error.status_code, headers=headers)
        await ws.send_denial_response(body)
        return
    await ws.accept()
    await ws.send_text(json.dumps(error_event(error)))
    await ws.close(1008)


async def _close(ws: WebSocket, code: int = 1000) -> None:
    if ws.application_state == WebSocketState.CONNECTED and ws.client_state == WebSocketState.CONNECTED:
        with contextlib.suppress(RuntimeError, WebSocketDisconnect, OSError):
            await ws.close(code)


async def _pump(
    ws: WebSocket, handle: Callable[[str | bytes], Awaitable[None]], ended: asyncio.Event
) -> None:
    """Hand client messages to ``handle`` until the client leaves or ``ended`` is set."""

    async def read() -> None:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            await handle(text if text is not None else message.get("bytes") or b"")

    reader, waiter = asyncio.ensure_future(read()), asyncio.ensure_future(ended.wait())
    try:
        await asyncio.wait({reader, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (reader, waiter):
            task.cancel()
        await asyncio.gather(reader, waiter, return_exceptions=True)


async def _start(ws: WebSocket, engine: Engine) -> tuple[LiveSession, str | None] | None:
    """Wait for a valid ``session.start``; None if the client leaves first."""
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return None
        raw = message.get("text") or message.get("bytes") or b""
        try:
            event = parse_client_event(raw, "websocket")
            if event.type != "session.start":
                raise ClientEventError(
                    InvalidRequest(
                        f"The first client event must be 'session.start', not '{event.type}'.",
                        code="session_not_started",
                        param="type",
                    ),
                    event.event_id,
                )
            try:
                settings = parse_live_session(
                    event.payload["session"], "websocket", models=engine.config.live_models
                )
            except InvalidRequest as exc:
                raise ClientEventError(exc, event.event_id) from None
        except ClientEventError as exc:
            await ws.send_text(json.dumps(error_event(exc, exc.event_id)))
            continue
        return engine.live.new_session(settings), event.event_id


async def live_websocket(ws: WebSocket) -> None:
    """``/v1/live/sessions``: a primary WebSocket session (see the module docstring)."""
    engine: Engine = ws.app.state.engine
    end_user = ws.headers.get("openai-safety-identifier") or None
    try:
        credential = engine.keys.authenticate(bearer_token(ws.headers), allow_ephemeral=False)
        engine.check_session(credential, end_user)
    except VoxgateError as exc:
        await _refuse(ws, exc)
        return
    await ws.accept()
    started = await _start(ws, engine)
    if started is None:
        return
    session, start_id = started
    try:
        engine.live.track(session, credential, end_user)
    except VoxgateError as exc:
        await ws.send_text(json.dumps(error_event(exc, start_id)))
        await session.aclose()
        await _close(ws, 1008)
        return

    async def send(text: str) -> None:
        await ws.send_text(text)

    session.add_sink(send)
    try:
        await session.start(start_id)
        await _pump(ws, session.handle_message, session.ended)
    finally:
        await session.aclose()
        engine.live.untrack(session)
        await _close(ws)


async def live_attach_websocket(ws: WebSocket) -> None:
    """``/v1/live/sessions/{session_id}/attach``: a sideband on a running session."""
    engine: Engine = ws.app.state.engine
    try:
        engine.keys.authenticate(bearer_token(ws.headers), allow_ephemeral=False)
        graceful = ws.query_params.get("graceful_close")
        if graceful not in (None, "true", "false"):
            raise InvalidRequest(
                "Invalid value for 'graceful_close': expected true or false.", param="graceful_close"
            )
        session = engine.live.get(ws.path_params["session_id"])
    except VoxgateError as exc:
        await _refuse(ws, exc)
        return
    await ws.accept()

    async def send(text: str) -> None:
        await ws.send_text(text)

    session.attach_sideband(send)
    try:
        await _pump(ws, session.handle_sideband_message, session.ended)
    finally:
        session.detach_sideband(send)
        await _close(ws)
