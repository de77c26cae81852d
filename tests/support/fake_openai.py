"""A small stand-in for OpenAI's Realtime API that checks the GA request strictly.

``POST /v1/realtime/client_secrets`` answers like OpenAI (status codes, error bodies, the GA response
shape) and can be switched into each failure mode the gateway must handle. For the relay and the
supervisor it also takes offers (``POST /v1/realtime/calls``: a canned SDP answer and ``Location``),
hangups and the sideband WebSocket (``/v1/realtime?call_id=``, which plays ``sideband_events``), and
GPT-Live offers (``POST /v1/live/sessions``: JSON in, a canned answer and a ``live_`` id out).

With ``echo_key`` set it quotes the key it was sent everywhere an upstream can (the canary suite): error
``message``, ``param`` and ``code``, response headers and cookies, 200 bodies, the SDP answer,
``Location`` and sideband events, in every form (whole, without its prefix, cut in two, masked).
The local engine takes its place in integration tests; this app stays the strictest check of what the
gateway sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from openai.types.realtime import RealtimeSessionCreateRequest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from voxgate.errors import InvalidRequest
from voxgate.protocol.strict import parse_strict

MODES = ("ok", "unauthorized", "rate_limited", "quota_exhausted", "slow", "invalid", "server_error")


SDP_ANSWER = (
    "v=0\r\no=- 4215 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendrecv\r\n"
    "a=ice-ufrag:fake\r\na=ice-pwd:fakefakefakefakefakefake\r\na=setup:active\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
)


def echo_forms(key: str) -> str:
    """The key in every form an upstream might quote it: whole, without its prefix, cut in two, masked."""
    bare = key.split("-", 2)[-1] if key.startswith("sk-proj-") else key.removeprefix("sk-")
    half = len(key) // 2
    return f"{key} | {bare} | {key[:half]} {key[half:]} | {key[:5]}****{key[-4:]} | {key[:8]}...{key[-4:]}"


def default_sideband_events(echo: str) -> list[dict[str, Any]]:
    """A short call: a session, a spoken turn with its transcript, a reply, its usage, an error."""
    assistant = {
        "id": "item_a1",
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_audio", "transcript": f"Hello. {echo}"}],
    }
    user = {
        "id": "item_u1",
        "type": "message",
        "role": "user",
        "status": "completed",
        "content": [{"type": "input_audio", "transcript": None}],
    }
    usage = {
        "total_tokens": 30,
        "input_tokens": 10,
        "output_tokens": 20,
        "input_token_details": {"text_tokens": 5, "audio_tokens": 5, "cached_tokens": 0},
        "output_token_details": {"text_tokens": 10, "audio_tokens": 10},
    }
    return [
        {
            "type": "session.created",
            "session": {"type": "realtime", "model": "gpt-realtime-2.1", "instructions": f"Be brief. {echo}"},
        },
        {"type": "conversation.item.added", "previous_item_id": None, "item": user},
        {
            "type": "conversation.item.input_audio_transcription.completed",
            "item_id": "item_u1",
            "content_index": 0,
            "transcript": f"What is the key? {echo}",
            "usage": {"type": "duration", "seconds": 2},
        },
        {"type": "conversation.item.done", "previous_item_id": "item_u1", "item": assistant},
        {
            "type": "response.done",
            "response": {
                "id": "resp_1",
                "object": "realtime.response",
                "status": "completed",
                "output": [assistant],
                "usage": usage,
                "metadata": {"echo": echo},
            },
        },
        {
            "type": "error",
            "error": {"type": "invalid_request_error", "code": echo, "message": echo, "param": echo},
        },
    ]


@dataclass
class FakeOpenAIState:
    api_key: str
    mode: str = "ok"
    slow_seconds: float = 5.0
    #: Quote the key sent (in every form) in every answer: error fields, headers, bodies, events.
    echo_key: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)
    #: Live calls (id -> ended) and the events each new sideband plays (None: the default script).
    calls: dict[str, asyncio.Event] = field(default_factory=dict)
    sideband_events: list[dict[str, Any]] | None = None
    hangups: list[str] = field(default_factory=list)

    def reset(self) -> None:
        self.mode = "ok"
        self.slow_seconds = 5.0  # tests that shorten it must not shorten it for the next one
        self.echo_key = False
        self.sideband_events = None
        self.requests.clear()
        self.calls.clear()
        self.hangups.clear()


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

    def echoed(response: Response, key: str) -> Response:
        """In echo mode, the key in headers and a cookie too (an upstream's headers reach no client)."""
        if state.echo_key:
            response.headers["x-echo"] = echo_forms(key)
            response.headers["openai-organization"] = key
            response.set_cookie("echo", key.removeprefix("sk-"))
        return response

    def echo_error(status: int, key: str, **headers: str) -> Response:
        forms = echo_forms(key)
        return echoed(_error(status, f"Echo: {forms}", "invalid_request_error", forms, forms, **headers), key)

    async def client_secrets(request: Request) -> Response:
        return echoed(await _client_secrets(request), request.headers.get("authorization", "")[7:])

    async def _client_secrets(request: Request) -> Response:
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
            if state.echo_key:
                return echo_error(401, key)
            return _error(
                401, f"Incorrect API key provided: {key}.", "invalid_request_error", "invalid_api_key"
            )
        if state.echo_key and state.mode in ("rate_limited", "server_error", "invalid"):
            status = {"rate_limited": 429, "server_error": 500, "invalid": 400}[state.mode]
            return echo_error(status, key, **{"retry-after": "7"})
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
        answer: dict[str, Any] = {
            "value": "ek_" + secrets.token_hex(16),
            "expires_at": now + seconds,
            "session": echoed,
        }
        if state.echo_key:
            forms = echo_forms(key)
            answer["echo"] = forms
            echoed["instructions"] = f"{echoed.get('instructions', '')} {forms}"
            echoed[forms] = {"tools": [forms]}
        return JSONResponse(answer)

    async def models(request: Request) -> Response:
        key = request.headers.get("authorization", "")[7:]
        if key != state.api_key or state.mode in ("unauthorized", "server_error"):
            if state.echo_key:
                return echo_error(401 if state.mode != "server_error" else 500, key)
            return _error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        return echoed(
            JSONResponse(
                {
                    "object": "list",
                    "data": [
                        {"id": "gpt-realtime-2.1", "object": "model", "created": 0, "owned_by": "system"}
                    ],
                }
            ),
            key,
        )

    async def create_call(request: Request) -> Response:
        """An offer (raw SDP or multipart ``sdp`` + ``session``): a canned answer and a call id."""
        key = request.headers.get("authorization", "")[7:]
        if key != state.api_key or state.mode == "unauthorized":
            return (
                echo_error(401, key)
                if state.echo_key
                else _error(401, "Bad key.", "invalid_request_error", None)
            )
        media = request.headers.get("content-type", "")
        if media.startswith("multipart/form-data"):
            form = await request.form()
            sdp = form.get("sdp")
            session = form.get("session")
            state.requests.append({"headers": dict(request.headers), "sdp": sdp, "session": session})
        else:
            sdp = (await request.body()).decode()
            state.requests.append({"headers": dict(request.headers), "sdp": sdp})
        if not isinstance(sdp, str) or not sdp.startswith("v=0"):
            if state.echo_key:
                return echo_error(400, key)
            return _error(400, "Invalid SDP offer.", "invalid_request_error", "invalid_offer", "sdp")
        call_id = "rtc_" + secrets.token_hex(8)
        state.calls[call_id] = asyncio.Event()
        answer = SDP_ANSWER
        location = f"/v1/realtime/calls/{call_id}"
        if state.echo_key:
            answer += f"a=x-echo:{echo_forms(key)}\r\n"
            location += f"?echo={key.removeprefix('sk-')}"
        response = Response(answer, status_code=201, media_type="application/sdp")
        response.headers["location"] = location
        return echoed(response, key)

    async def create_live_session(request: Request) -> Response:
        """GPT-Live's ``POST /v1/live/sessions``: JSON ``{session, transport}``, a canned answer and an id."""
        key = request.headers.get("authorization", "")[7:]
        if key != state.api_key or state.mode == "unauthorized":
            return _error(401, "Bad key.", "invalid_request_error", None)
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error(400, "Invalid JSON.", "invalid_request_error", "invalid_json")
        transport = body.get("transport") if isinstance(body, dict) else None
        sdp = transport.get("sdp") if isinstance(transport, dict) else None
        state.requests.append({"headers": dict(request.headers), "live": body})
        if not isinstance(sdp, str) or not sdp.startswith("v=0"):
            error = ("invalid_request_error", "invalid_offer", "transport.sdp")
            return _error(400, "Invalid SDP offer.", *error)
        session_id = "live_" + secrets.token_hex(8)
        answer = {"session": {"id": session_id}, "transport": {"type": "webrtc", "sdp": SDP_ANSWER}}
        return JSONResponse(answer, status_code=201)

    async def hangup(request: Request) -> Response:
        key = request.headers.get("authorization", "")[7:]
        call_id = request.path_params["call_id"]
        if key != state.api_key:
            return (
                echo_error(401, key)
                if state.echo_key
                else _error(401, "Bad key.", "invalid_request_error", None)
            )
        ended = state.calls.get(call_id)
        if ended is None:
            return _error(404, f"Call '{call_id}' not found.", "invalid_request_error", "call_not_found")
        state.hangups.append(call_id)
        ended.set()
        body = {"echo": echo_forms(key)} if state.echo_key else {}
        return echoed(JSONResponse(body), key)

    async def sideband(websocket: WebSocket) -> None:
        """``/v1/realtime?call_id=``: plays the script, answers retrieves, closes when the call ends."""
        key = websocket.headers.get("authorization", "")[7:]
        call_id = websocket.query_params.get("call_id", "")
        ended = state.calls.get(call_id)
        if key != state.api_key:
            await websocket.close(code=1008)
            return
        if ended is None or ended.is_set():
            await websocket.send_denial_response(
                _error(404, "Call not found.", "invalid_request_error", "call_not_found")
            )
            return
        await websocket.accept()
        echo = echo_forms(key) if state.echo_key else "no echo"
        script = state.sideband_events if state.sideband_events is not None else default_sideband_events(echo)
        for number, event in enumerate(script):
            await websocket.send_text(json.dumps({"event_id": f"event_{number}", **event}))

        async def answer_retrieves() -> None:
            while True:
                message = json.loads(await websocket.receive_text())
                if message.get("type") == "conversation.item.retrieve":
                    await websocket.send_text(
                        json.dumps(
                            {
                                "type": "error",
                                "event_id": "event_r",
                                "error": {"type": "invalid_request_error", "message": echo, "code": None},
                            }
                        )
                    )

        reader = asyncio.create_task(answer_retrieves())
        ending = asyncio.create_task(ended.wait())
        # Until the call is hung up, or the client goes away (a replica detaching).
        await asyncio.wait([reader, ending], return_when=asyncio.FIRST_COMPLETED)
        for task in (reader, ending):
            task.cancel()
        await asyncio.gather(reader, ending, return_exceptions=True)
        if ended.is_set():
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await websocket.close(code=1000)

    return Starlette(
        routes=[
            Route("/v1/realtime/client_secrets", client_secrets, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/realtime/calls", create_call, methods=["POST"]),
            Route("/v1/realtime/calls/{call_id}/hangup", hangup, methods=["POST"]),
            Route("/v1/live/sessions", create_live_session, methods=["POST"]),
            WebSocketRoute("/v1/realtime", sideband),
        ]
    )
