"""The engine's HTTP face: OpenAI's paths under ``/v1``, as a Starlette app.

``POST /v1/realtime/client_secrets``, ``POST /v1/realtime/calls`` (+ ``/{id}/hangup``), the WebSocket
``/v1/realtime`` (see :mod:`voxgate.engine.server.websocket`), GPT-Live's ``POST /v1/live/sessions`` and its
WebSockets (:mod:`~voxgate.engine.server.live_http`, :mod:`~voxgate.engine.server.live_websocket`) and
``GET /v1/models``. Errors are OpenAI-shaped
``{"error": {...}}`` bodies; CORS follows reference §2.7 so browsers can post SDP and read ``Location``.

Build it with :func:`create_engine_app`; serve it alone (``uvicorn``) or mount it in another app. When
mounted, Starlette does not run a sub-app's lifespan: build the :class:`Engine` yourself, pass it in and
close it in the parent's lifespan.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from voxgate.engine.config import EngineConfig
from voxgate.engine.ids import new_id
from voxgate.engine.realtime.session_config import echo_session, parse_session_request
from voxgate.engine.server.calls_body import read_call_request
from voxgate.engine.server.engine import Engine
from voxgate.engine.server.keys import bearer_token
from voxgate.engine.server.live_http import create_live_session, hangup_live_session
from voxgate.engine.server.live_websocket import live_attach_websocket, live_websocket
from voxgate.engine.server.websocket import realtime_websocket
from voxgate.errors import InvalidRequest, NotFound, VoxgateError

__all__ = ["create_engine_app", "error_response"]

_BETA_GONE = "The Realtime Beta API is no longer supported. Please use /v1/realtime for the GA API."


def error_response(error: VoxgateError) -> JSONResponse:
    """The OpenAI-shaped HTTP error for ``error`` (with ``Retry-After`` when it says when to retry)."""
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else None
    return JSONResponse({"error": error.to_dict()}, status_code=error.status_code, headers=headers)


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def _json_object(request: Request) -> dict[str, Any]:
    body = await request.body()
    if not body.strip():
        return {}
    try:
        data = json.loads(body)
    except ValueError:
        raise InvalidRequest(
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
            "your HTTP library correctly.)",
            code="invalid_json",
        ) from None
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.", code="invalid_type")
    return data


def _expiry_seconds(value: Any, config: EngineConfig) -> int:
    """``expires_after`` → seconds, validated like the real API (anchor ``created_at``, 10–7200 s)."""
    if value is None:
        return config.key_default_ttl_s
    if not isinstance(value, dict):
        raise InvalidRequest("Invalid type for 'expires_after': expected an object.", param="expires_after")
    for key in value:
        if key not in ("anchor", "seconds"):
            raise InvalidRequest(
                f"Unknown parameter: 'expires_after.{key}'.",
                code="unknown_parameter",
                param=f"expires_after.{key}",
            )
    if value.get("anchor", "created_at") != "created_at":
        raise InvalidRequest(
            f"Invalid value: '{value['anchor']}'. Supported values are: 'created_at'.",
            param="expires_after.anchor",
        )
    seconds = value.get("seconds", config.key_default_ttl_s)
    low, high = config.key_min_ttl_s, config.key_max_ttl_s
    if not isinstance(seconds, int) or isinstance(seconds, bool) or not low <= seconds <= high:
        raise InvalidRequest(
            f"Invalid 'expires_after.seconds': expected an integer between {low} and {high}.",
            code="integer_out_of_range",
            param="expires_after.seconds",
        )
    return seconds


def _end_user(request: Request) -> str | None:
    """The ``OpenAI-Safety-Identifier`` naming a gateway's end user (counted only from a trusted key)."""
    return request.headers.get("openai-safety-identifier") or None


async def create_client_secret(request: Request) -> Response:
    """``POST /v1/realtime/client_secrets``: mint an ``ek_…`` key carrying a session config."""
    engine = _engine(request)
    credential = engine.keys.authenticate(bearer_token(request.headers), allow_ephemeral=False)
    body = await _json_object(request)
    for key in body:
        if key not in ("expires_after", "session"):
            raise InvalidRequest(f"Unknown parameter: '{key}'.", code="unknown_parameter", param=key)
    ttl = _expiry_seconds(body.get("expires_after"), engine.config)
    fields = parse_session_request(body["session"]) if body.get("session") is not None else {}
    full = engine.session_config(credential, override=fields)
    # The secret's calls use the minter's share (its end user's, for a gateway's key).
    minted = engine.keys.mint(fields, ttl, minted_by=engine.cap_key(credential, _end_user(request)))
    # The echo's session has no live session behind it yet, hence expires_at 0 as in the spec's example.
    session = echo_session(full, session_id=new_id("sess"), expires_at=0)
    return JSONResponse({"value": minted.value, "expires_at": minted.expires_at, "session": session})


async def create_call(request: Request) -> Response:
    """``POST /v1/realtime/calls``: answer an SDP offer; 201 + SDP answer + ``Location`` with the call id."""
    engine = _engine(request)
    credential = engine.keys.authenticate(bearer_token(request.headers))
    end_user = _end_user(request)
    engine.check_call(credential, end_user)  # a caller over a cap is refused before its body is read
    sdp, fields = await read_call_request(request)
    config = engine.session_config(credential, override=fields)
    call_id, answer = await engine.create_call(sdp, config, opener=credential, end_user=end_user)
    location = f"{request.scope.get('root_path', '')}/v1/realtime/calls/{call_id}"
    return Response(answer, status_code=201, media_type="application/sdp", headers={"Location": location})


async def hangup_call(request: Request) -> Response:
    """``POST /v1/realtime/calls/{call_id}/hangup``: end a WebRTC call; 200 with no body.

    A standard key may end any call; an ``ek_`` key only the calls it opened (any other is 404
    ``call_not_found``, as if it did not exist).
    """
    engine = _engine(request)
    credential = engine.keys.authenticate(bearer_token(request.headers))
    await engine.hangup(request.path_params["call_id"], credential=credential)
    return Response(status_code=200)


async def beta_gone(request: Request) -> Response:
    """The beta paths (``POST /v1/realtime/sessions``, SDP to ``/v1/realtime``) answer as GA does."""
    return error_response(InvalidRequest(_BETA_GONE, code="beta_api_shape_disabled"))


def _model_object(model: str) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": 0, "owned_by": "voxgate"}


async def list_models(request: Request) -> Response:
    """``GET /v1/models``: the one realtime model this engine serves (also a readiness check)."""
    engine = _engine(request)
    engine.keys.authenticate(bearer_token(request.headers))
    return JSONResponse({"object": "list", "data": [_model_object(engine.config.model)]})


async def retrieve_model(request: Request) -> Response:
    """``GET /v1/models/{model}``."""
    engine = _engine(request)
    engine.keys.authenticate(bearer_token(request.headers))
    if request.path_params["model"] != engine.config.model:
        raise NotFound(f"The model '{request.path_params['model']}' does not exist", code="model_not_found")
    return JSONResponse(_model_object(engine.config.model))


async def _voxgate_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, VoxgateError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(
            NotFound(f"Invalid URL ({request.method} {request.url.path})", code="not_found")
        )
    error = InvalidRequest(str(exc.detail), code="method_not_allowed" if exc.status_code == 405 else None)
    return JSONResponse({"error": error.to_dict()}, status_code=exc.status_code, headers=exc.headers)


def create_engine_app(
    config: EngineConfig, *, engine: Engine | None = None, **engine_options: Any
) -> Starlette:
    """The engine's Starlette app.

    Without ``engine`` the app builds one from ``config`` and ``engine_options`` (``responder``,
    ``synthesizer``, ``observer_factory``, ``clock``) and closes it at shutdown. With ``engine`` the
    caller owns it and must close it. The engine is available as ``app.state.engine``.
    """
    owned = engine is None
    the_engine = engine if engine is not None else Engine(config, **engine_options)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if owned:
                await the_engine.aclose()

    routes = [
        Route("/v1/realtime/client_secrets", create_client_secret, methods=["POST"]),
        Route("/v1/realtime/calls", create_call, methods=["POST"]),
        Route("/v1/realtime/calls/{call_id}/hangup", hangup_call, methods=["POST"]),
        Route("/v1/realtime/sessions", beta_gone, methods=["POST"]),
        Route("/v1/realtime", beta_gone, methods=["POST"]),
        WebSocketRoute("/v1/realtime", realtime_websocket),
        Route("/v1/live/sessions", create_live_session, methods=["POST"]),
        Route("/v1/live/sessions/{session_id}/hangup", hangup_live_session, methods=["POST"]),
        WebSocketRoute("/v1/live/sessions", live_websocket),
        WebSocketRoute("/v1/live/sessions/{session_id}/attach", live_attach_websocket),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/models/{model}", retrieve_model, methods=["GET"]),
    ]
    middleware = [
        Middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_allow_origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=list(config.cors_allow_headers),
            expose_headers=["Location"],
        )
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={VoxgateError: _voxgate_error, HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.engine = the_engine
    return app
