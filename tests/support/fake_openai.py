"""A small stand-in for OpenAI's ``POST /v1/realtime/client_secrets`` that checks the GA request strictly.

It answers like OpenAI (status codes, error bodies, the GA response shape) and can be switched into each
failure mode the gateway must handle. The local engine will take its place in integration tests; this app
stays as the strictest check of what the gateway sends.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from openai.types.realtime import RealtimeSessionCreateRequest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from voxgate.errors import InvalidRequest
from voxgate.protocol.strict import parse_strict

MODES = ("ok", "unauthorized", "rate_limited", "quota_exhausted", "slow", "invalid", "server_error")


@dataclass
class FakeOpenAIState:
    api_key: str
    mode: str = "ok"
    slow_seconds: float = 5.0
    requests: list[dict[str, Any]] = field(default_factory=list)

    def reset(self) -> None:
        self.mode = "ok"
        self.requests.clear()


def _error(
    status: int, message: str, error_type: str, code: str | None, param: str | None = None, **headers: str
) -> JSONResponse:
    body = {"error": {"message": message, "type": error_type, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers or None)


def _check_request(body: Any) -> tuple[int, dict[str, Any]]:
    """Validate like the real API: returns (ttl, session) or raises InvalidRequest."""
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object.", param=None)
    for key in body:
        if key not in ("expires_after", "session"):
            raise InvalidRequest(f"Unknown parameter: '{key}'.", code="unknown_parameter", param=key)
    expires = body.get("expires_after", {"anchor": "created_at", "seconds": 600})
    for key in expires:
        if key not in ("anchor", "seconds"):
            raise InvalidRequest(
                f"Unknown parameter: 'expires_after.{key}'.",
                code="unknown_parameter",
                param=f"expires_after.{key}",
            )
    if expires.get("anchor", "created_at") != "created_at":
        raise InvalidRequest("Invalid value for 'expires_after.anchor'.", param="expires_after.anchor")
    seconds = expires.get("seconds", 600)
    if not isinstance(seconds, int) or not 10 <= seconds <= 7200:
        raise InvalidRequest(
            f"Invalid 'expires_after.seconds': {seconds}. Expected a value between 10 and 7200.",
            code="integer_out_of_range",
            param="expires_after.seconds",
        )
    session = body.get("session", {"type": "realtime"})
    if session.get("type") != "realtime":
        raise InvalidRequest("Missing or invalid 'session.type'.", param="session.type")
    parse_strict(RealtimeSessionCreateRequest, session, param_prefix="session")
    return seconds, session


def create_fake_openai(state: FakeOpenAIState) -> Starlette:
    """The fake upstream app; ``state`` controls and records it."""

    async def client_secrets(request: Request) -> JSONResponse:
        auth = request.headers.get("authorization", "")
        key = auth.removeprefix("Bearer ")
        body: Any = None
        try:
            body = await request.json()
        except ValueError:
            body = None
        state.requests.append({"headers": dict(request.headers), "body": body})
        if "openai-beta" in request.headers:
            return _error(
                400,
                "The Realtime Beta API is no longer supported.",
                "invalid_request_error",
                "beta_api_shape_disabled",
            )
        if state.mode == "unauthorized" or key != state.api_key:
            # OpenAI quotes (part of) the key it was sent; this fake quotes all of it, to test scrubbing.
            return _error(
                401, f"Incorrect API key provided: {key}.", "invalid_request_error", "invalid_api_key"
            )
        if state.mode == "rate_limited":
            return _error(
                429,
                "Rate limit reached for requests.",
                "requests",
                "rate_limit_exceeded",
                **{"retry-after": "7"},
            )
        if state.mode == "quota_exhausted":
            # What OpenAI answers when the account's credits or monthly limit are used up.
            return _error(
                429,
                "You exceeded your current quota, please check your plan and billing details.",
                "insufficient_quota",
                "insufficient_quota",
            )
        if state.mode == "slow":
            await asyncio.sleep(state.slow_seconds)
        if state.mode == "server_error":
            return _error(500, "The server had an error while processing your request.", "server_error", None)
        if state.mode == "invalid":
            return _error(
                400,
                f"Invalid value: 'gpt-nope'. Supported values are: 'gpt-realtime'. (key {key})",
                "invalid_request_error",
                "invalid_value",
                "session.model",
            )
        try:
            seconds, session = _check_request(body)
        except InvalidRequest as exc:
            return JSONResponse({"error": {**exc.to_dict()}}, status_code=400)
        now = int(time.time())
        echoed = {
            "object": "realtime.session",
            "id": "sess_" + secrets.token_hex(10),
            "expires_at": 0,
            "tools": [],
            "tool_choice": "auto",
            "max_output_tokens": "inf",
            "tracing": None,
            "truncation": "auto",
            "prompt": None,
            "include": None,
            **session,
        }
        return JSONResponse(
            {"value": "ek_" + secrets.token_hex(16), "expires_at": now + seconds, "session": echoed}
        )

    async def models(request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {state.api_key}" or state.mode == "unauthorized":
            return _error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        return JSONResponse(
            {
                "object": "list",
                "data": [{"id": "gpt-realtime-2.1", "object": "model", "created": 0, "owned_by": "system"}],
            }
        )

    return Starlette(
        routes=[
            Route("/v1/realtime/client_secrets", client_secrets, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
        ]
    )
