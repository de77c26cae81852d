"""The WebSocket ``/v1/realtime``: new sessions (``?model=``, ``?intent=transcription``) and sideband
observers of live calls (``?call_id=``).

Auth is the ``Authorization`` header or, for browsers, the subprotocol ``openai-insecure-api-key.<key>``;
``realtime`` is echoed when offered (browsers fail the handshake otherwise). ``OpenAI-Beta:
realtime=v1`` is answered with ``beta_api_shape_disabled`` and close code 4000 (reference §2.4).
Refused handshakes get an OpenAI-shaped HTTP error when the server supports denial responses.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from starlette.responses import JSONResponse
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from voxgate.engine.realtime.events import error_event
from voxgate.engine.realtime.realtime_session import RealtimeSession
from voxgate.engine.server.engine import Engine
from voxgate.engine.server.keys import Credential, bearer_token
from voxgate.errors import InvalidRequest, PermissionDenied, VoxgateError

__all__ = ["realtime_websocket"]

log = logging.getLogger(__name__)
_KEY_PROTOCOL = "openai-insecure-api-key."
BETA_CLOSE_CODE = 4000


def _offered(ws: WebSocket) -> list[str]:
    return [p.strip() for p in ws.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]


async def _close(ws: WebSocket, code: int = 1000) -> None:
    if ws.application_state == WebSocketState.CONNECTED and ws.client_state == WebSocketState.CONNECTED:
        with contextlib.suppress(RuntimeError, WebSocketDisconnect, OSError):
            await ws.close(code)


class _DenialIsNotAnError(logging.Filter):
    """uvicorn's websockets-sansio protocol (0.54) logs "ASGI callable returned without completing
    handshake." after every denial response, although sending one is a complete answer. The engine
    refuses with a denial whenever a sideband asks for a call that has ended, i.e. at the end of every
    supervised call, so the line would be noise on every call."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno == logging.ERROR and record.getMessage().startswith(_NO_HANDSHAKE))


_NO_HANDSHAKE = "ASGI callable returned without completing handshake"
logging.getLogger("uvicorn.error").addFilter(_DenialIsNotAnError())


async def _refuse(ws: WebSocket, error: VoxgateError, subprotocol: str | None) -> None:
    if "websocket.http.response" in ws.scope.get("extensions", {}):
        headers = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else None
        await ws.send_denial_response(
            JSONResponse({"error": error.to_dict()}, status_code=error.status_code, headers=headers)
        )
        return
    await ws.accept(subprotocol=subprotocol)
    await ws.send_text(json.dumps(error_event(error)))
    await ws.close(1008)


async def realtime_websocket(ws: WebSocket) -> None:
    """Route one WebSocket: refuse it, open a new session, or attach it to a call as a sideband."""
    engine: Engine = ws.app.state.engine
    offered = _offered(ws)
    subprotocol = "realtime" if "realtime" in offered else None
    if "realtime=v1" in ws.headers.get("openai-beta", "").replace(" ", ""):
        await ws.accept(subprotocol=subprotocol)
        beta = InvalidRequest(
            "The Realtime Beta API is no longer supported. Please use the GA API "
            "(remove the OpenAI-Beta header).",
            code="beta_api_shape_disabled",
        )
        await ws.send_text(json.dumps(error_event(beta)))
        await ws.close(BETA_CLOSE_CODE)
        return
    token = bearer_token(ws.headers) or next(
        (p[len(_KEY_PROTOCOL) :] for p in offered if p.startswith(_KEY_PROTOCOL)), None
    )
    params = ws.query_params
    try:
        credential = engine.keys.authenticate(token)
        if params.get("call_id"):
            if credential.kind != "standard":
                raise PermissionDenied("Joining a call requires a standard API key.")
            call = engine.call(params["call_id"])
            if call.session is None:
                raise InvalidRequest("The call has no session yet.", param="call_id")
            session = call.session
        else:
            end_user = ws.headers.get("openai-safety-identifier") or None
            session = _new_session(engine, credential, params.get("model"), params.get("intent"), end_user)
            # Counted from the handshake on, so concurrent handshakes cannot all slip under the cap.
            engine.track_session(session, credential, end_user)
    except VoxgateError as exc:
        await _refuse(ws, exc, subprotocol)
        return
    if params.get("call_id"):
        await ws.accept(subprotocol=subprotocol)
        await _observe(ws, session)
        return
    try:
        await ws.accept(subprotocol=subprotocol)
        await _serve(ws, session)
    finally:
        engine.untrack_session(session)


def _new_session(
    engine: Engine, credential: Credential, model: str | None, intent: str | None, end_user: str | None
) -> RealtimeSession:
    if intent not in (None, "realtime", "transcription"):
        raise InvalidRequest(
            f"Invalid value: '{intent}'. Supported values are: 'realtime' and 'transcription'.",
            param="intent",
        )
    kind = intent if intent == "transcription" else ("realtime" if intent == "realtime" or model else None)
    if kind is None and not credential.session and not model:
        raise InvalidRequest(
            "Missing required parameter: 'model'.", code="missing_required_parameter", param="model"
        )
    engine.check_session(credential, end_user)  # before the session is built
    config = engine.session_config(credential, kind=kind, model=model if kind != "transcription" else None)
    return engine.new_session(config, "websocket")


async def _pump(ws: WebSocket, session: RealtimeSession) -> None:
    """Feed client messages to ``session`` until the client leaves or the session ends."""

    async def read() -> None:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("text")
            await session.handle_message(data if data is not None else message.get("bytes") or b"")

    reader = asyncio.ensure_future(read())
    ended = asyncio.ensure_future(session.ended.wait())
    try:
        await asyncio.wait({reader, ended}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (reader, ended):
            task.cancel()
        await asyncio.gather(reader, ended, return_exceptions=True)


async def _serve(ws: WebSocket, session: RealtimeSession) -> None:
    async def send(text: str) -> None:
        await ws.send_text(text)

    session.add_sink(send)
    try:
        await session.start()
        await _pump(ws, session)
    finally:
        await session.aclose()
        await _close(ws)


async def _observe(ws: WebSocket, session: RealtimeSession) -> None:
    """A sideband: one more sink on the call's session; its client events go to the same session."""

    async def send(text: str) -> None:
        await ws.send_text(text)

    session.add_sink(send)
    try:
        await _pump(ws, session)
    finally:
        session.remove_sink(send)
        await _close(ws)
