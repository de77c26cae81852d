"""``POST /v1/live/sessions``: a GPT-Live WebRTC session from a JSON offer (reference §1).

The body is ``{"session": {...}, "transport": {"type": "webrtc", "sdp": "..."}}``, both required and
nothing else: unknown keys anywhere get 400 ``unknown_parameter`` with ``param`` naming them. The answer
is ``201 {"session": {"id": "live_…"}, "transport": {"type": "webrtc", "sdp": answer}}`` with no
``Location``. Live has no client secrets, so an ``ek_`` key is refused; the caps are the realtime calls'
(the end user is the ``OpenAI-Safety-Identifier`` header, else the session's ``safety_identifier``).
``POST /v1/live/sessions/{id}/hangup`` ends a session as ``session.close`` would.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from voxgate.engine.live.settings import parse_live_session
from voxgate.engine.server.engine import Engine
from voxgate.engine.server.keys import bearer_token
from voxgate.errors import InvalidRequest, UnsupportedMediaType

__all__ = ["create_live_session", "hangup_live_session"]


def _unknown(param: str) -> InvalidRequest:
    return InvalidRequest(f"Unknown parameter: '{param}'.", code="unknown_parameter", param=param)


def _missing(param: str) -> InvalidRequest:
    return InvalidRequest(
        f"Missing required parameter: '{param}'.", code="missing_required_parameter", param=param
    )


async def _body(request: Request) -> dict[str, Any]:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise UnsupportedMediaType("GPT-Live sessions are created with a JSON body (application/json).")
    try:
        data = json.loads(await request.body())
    except ValueError:
        raise InvalidRequest(
            "We could not parse the JSON body of your request.", code="invalid_json"
        ) from None
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.", code="invalid_type")
    return data


def _offer(body: dict[str, Any]) -> str:
    for key in body:
        if key not in ("session", "transport"):
            raise _unknown(key)
    for key in ("session", "transport"):
        if key not in body:
            raise _missing(key)
    transport = body["transport"]
    if not isinstance(transport, dict):
        raise InvalidRequest("Invalid type for 'transport': expected an object.", param="transport")
    for key in transport:
        if key not in ("type", "sdp"):
            raise _unknown(f"transport.{key}")
    if transport.get("type") != "webrtc":
        raise InvalidRequest("Invalid value for 'transport.type': expected 'webrtc'.", param="transport.type")
    sdp = transport.get("sdp")
    if not isinstance(sdp, str) or not sdp.strip():
        raise (
            _missing("transport.sdp")
            if not sdp
            else InvalidRequest("Invalid 'transport.sdp'.", param="transport.sdp")
        )
    return sdp


async def create_live_session(request: Request) -> Response:
    """Answer the offer with a new Live session (see the module docstring)."""
    engine: Engine = request.app.state.engine
    credential = engine.keys.authenticate(bearer_token(request.headers), allow_ephemeral=False)
    body = await _body(request)
    sdp = _offer(body)
    settings = parse_live_session(body["session"], "webrtc", models=engine.config.live_models)
    end_user = request.headers.get("openai-safety-identifier") or settings.safety_identifier
    session_id, answer = await engine.live.create_call(sdp, settings, opener=credential, end_user=end_user)
    return JSONResponse(
        {"session": {"id": session_id}, "transport": {"type": "webrtc", "sdp": answer}}, status_code=201
    )


async def hangup_live_session(request: Request) -> Response:
    """``POST /v1/live/sessions/{session_id}/hangup``: 200, the session closes (``close_requested``)."""
    engine: Engine = request.app.state.engine
    engine.keys.authenticate(bearer_token(request.headers), allow_ephemeral=False)
    await engine.live.hangup(request.path_params["session_id"])
    return Response(status_code=200)
