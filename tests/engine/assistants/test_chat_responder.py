"""ChatCompletionsResponder against a real OpenAI-compatible Chat Completions server (Starlette + uvicorn).

The server streams real SSE, records what it was sent, and can be switched into each failure mode.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.server import ServerThread, free_port
from voxgate.engine.assistants.chat_responder import ChatCompletionsResponder
from voxgate.engine.assistants.responder import FunctionCall, ResponderEvent, ResponderRequest, TextDelta
from voxgate.errors import (
    UpstreamAuthFailed,
    UpstreamBusy,
    UpstreamError,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnreachable,
)

API_KEY = "sk-local-secret-0123456789abcdef"
MODEL = "llama-test"


@dataclass
class ChatServerState:
    """What the server sends next, and what it has seen. Shared between the test and the server thread."""

    chunks: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    error_message: str = ""
    delay_before: float = 0.0  # seconds before the response starts
    stall_after: int | None = None  # stop sending (but keep the connection) after this many chunks
    gate_after: int | None = None  # wait for ``gate`` after this many chunks
    gate: threading.Event = field(default_factory=threading.Event)
    requests: list[dict[str, Any]] = field(default_factory=list)
    auth_headers: list[str] = field(default_factory=list)
    disconnected: threading.Event = field(default_factory=threading.Event)


def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


def tool_fragment(index: int, arguments: str, call_id: str | None = None, name: str | None = None) -> Any:
    fragment: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if call_id:
        fragment |= {"id": call_id, "type": "function"}
        fragment["function"]["name"] = name
    return fragment


async def wait_for(request: Request, done: threading.Event | None, seconds: float) -> bool:
    """Sleep up to ``seconds`` (or until ``done``); False if the client went away meanwhile."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (done and done.is_set()):
        if await request.is_disconnected():
            return False
        await asyncio.sleep(0.02)
    return True


def create_chat_app(current: list[ChatServerState]) -> Starlette:
    """The server; ``current[0]`` is the state it obeys and records into (each test swaps in a fresh one)."""

    async def completions(request: Request) -> Response:
        state = current[0]
        state.requests.append(await request.json())
        state.auth_headers.append(request.headers.get("authorization", ""))
        if state.delay_before and not await wait_for(request, None, state.delay_before):
            state.disconnected.set()
            return Response(status_code=499)
        if state.status != 200:
            error = {"message": state.error_message, "type": "invalid_request_error", "code": None}
            headers = {"retry-after": "7"} if state.status == 429 else None
            return JSONResponse({"error": error}, status_code=state.status, headers=headers)

        async def events() -> AsyncIterator[str]:
            try:
                for sent, data in enumerate(state.chunks):
                    if sent == state.stall_after:
                        await asyncio.sleep(30)
                    if sent == state.gate_after:
                        await wait_for(request, state.gate, 5)
                        if not state.gate.is_set():
                            # The client saw nothing yet: it buffers instead of streaming.
                            yield 'data: {"error": {"message": "client did not stream"}}\n\n'
                    yield f"data: {json.dumps(data)}\n\n"
                if state.stall_after == len(state.chunks):
                    await asyncio.sleep(30)
                yield "data: [DONE]\n\n"
            except asyncio.CancelledError:
                # Starlette cancels the body when the client disconnects.
                state.disconnected.set()
                raise

        return StreamingResponse(events(), media_type="text/event-stream")

    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])


@pytest.fixture(scope="module")
def chat_server() -> Iterator[tuple[ServerThread, list[ChatServerState]]]:
    current = [ChatServerState()]
    with ServerThread(create_chat_app(current)) as server:
        yield server, current


@pytest.fixture
def server_url(chat_server: tuple[ServerThread, list[ChatServerState]]) -> str:
    return f"{chat_server[0].url}/v1"


@pytest.fixture
def state(chat_server: tuple[ServerThread, list[ChatServerState]]) -> ChatServerState:
    fresh = chat_server[1][0] = ChatServerState()
    return fresh


@pytest.fixture
async def responder(server_url: str) -> AsyncIterator[ChatCompletionsResponder]:
    responder = ChatCompletionsResponder(server_url, MODEL, api_key=API_KEY, timeout=0.5)
    yield responder
    await responder.aclose()


async def collect(
    responder: ChatCompletionsResponder, request: ResponderRequest, into: list[ResponderEvent] | None = None
) -> list[ResponderEvent]:
    """All events of one response (also appended to ``into`` as they arrive, for failing streams)."""
    events = [] if into is None else into
    async for event in responder.respond(request):
        events.append(event)
    return events


def user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


async def test_text_streams_as_deltas_while_the_server_is_still_sending(
    responder: ChatCompletionsResponder, state: ChatServerState
) -> None:
    words = ["Hel", "lo", " there", "!"]
    state.chunks = [chunk({"role": "assistant", "content": ""})]
    state.chunks += [chunk({"content": word}) for word in words] + [chunk({}, "stop")]
    state.gate_after = 2  # the server holds the rest back until the test has seen the first delta

    received: list[ResponderEvent] = []
    async for event in responder.respond(ResponderRequest(items=[user("hi")])):
        received.append(event)
        state.gate.set()

    assert received == [TextDelta(word) for word in words]
    [body] = state.requests
    assert body["model"] == MODEL and body["stream"] is True
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert "tools" not in body and "tool_choice" not in body and "max_tokens" not in body
    assert state.auth_headers == [f"Bearer {API_KEY}"]


async def test_request_carries_the_conversation_tools_and_limits(
    responder: ChatCompletionsResponder, state: ChatServerState
) -> None:
    state.chunks = [chunk({"content": "It is sunny."}, "stop")]
    call_1 = {
        "type": "function_call",
        "name": "get_weather",
        "call_id": "call_1",
        "arguments": '{"city":"Oslo"}',
    }
    call_2 = {"type": "function_call", "name": "get_time", "call_id": "call_2", "arguments": "{}"}
    items = [
        {"type": "message", "role": "system", "content": [{"type": "input_text", "text": "Be brief."}]},
        user("Hello"),
        {"type": "message", "role": "assistant", "content": [{"type": "output_audio", "transcript": "Hi!"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_audio", "transcript": None}]},
        {"type": "message", "role": "user", "content": [{"type": "input_audio", "transcript": "Weather?"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
        call_1,
        call_2,
        {"type": "function_call_output", "call_id": "call_1", "output": '{"sky":"clear"}'},
        {"type": "function_call_output", "call_id": "call_2", "output": "12:00"},
        {"type": "mcp_list_tools", "server_label": "x", "tools": []},
    ]
    tools: list[dict[str, Any]] = [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Weather",
            "parameters": {"type": "object"},
        },
        {"type": "function", "name": "get_time"},
        {"type": "mcp", "server_label": "x", "server_url": "https://mcp.invalid"},
    ]
    request = ResponderRequest(
        items=items,
        instructions="You are a voice assistant.",
        tools=tools,
        tool_choice={"type": "function", "name": "get_weather"},
        max_output_tokens=256,
    )

    assert await collect(responder, request) == [TextDelta("It is sunny.")]

    [body] = state.requests
    tool_call = {"type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}
    assert body["messages"] == [
        {"role": "system", "content": "You are a voice assistant."},
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi!"},
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {"id": "call_1", **tool_call},
                {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"sky":"clear"}'},
        {"role": "tool", "tool_call_id": "call_2", "content": "12:00"},
    ]
    assert body["tools"] == [
        {
            "type": "function",
            "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object"}},
        },
        {"type": "function", "function": {"name": "get_time"}},
    ]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["max_tokens"] == 256


@pytest.mark.parametrize("choice", ["auto", "none", "required"])
async def test_string_tool_choices_pass_through(
    responder: ChatCompletionsResponder, state: ChatServerState, choice: str
) -> None:
    state.chunks = [chunk({"content": "ok"}, "stop")]
    tools = [{"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}}]
    request = ResponderRequest(items=[user("x")], tools=tools, tool_choice=choice, max_output_tokens=None)
    await collect(responder, request)
    assert state.requests[0]["tool_choice"] == choice
    assert "max_tokens" not in state.requests[0]


async def test_streamed_tool_calls_arrive_whole(
    responder: ChatCompletionsResponder, state: ChatServerState
) -> None:
    state.chunks = [
        chunk(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [tool_fragment(0, "", "call_a", "get_weather")],
            }
        ),
        chunk({"tool_calls": [tool_fragment(0, '{"city": ')]}),
        chunk({"tool_calls": [tool_fragment(1, '{"tz":', "call_b", "get_time")]}),
        chunk({"tool_calls": [tool_fragment(0, '"Paris"}')]}),
        chunk({"tool_calls": [tool_fragment(1, ' "CET"}')]}),
        {**chunk({}), "choices": [{"index": 0, "finish_reason": "tool_calls"}]},
    ]
    events = await collect(responder, ResponderRequest(items=[user("weather and time in Paris")]))
    assert events == [
        FunctionCall("get_weather", '{"city": "Paris"}', "call_a"),
        FunctionCall("get_time", '{"tz": "CET"}', "call_b"),
    ]


async def test_text_then_a_tool_call_without_finish_reason(
    responder: ChatCompletionsResponder, state: ChatServerState
) -> None:
    # Some servers end the stream with no finish_reason, and send each call whole at index 0.
    state.chunks = [
        chunk({"content": "Let me look."}),
        chunk({"tool_calls": [tool_fragment(0, '{"q": 1}', "call_x", "search")]}),
        chunk({"tool_calls": [tool_fragment(0, "", "call_y", "search")]}),
    ]
    events = await collect(responder, ResponderRequest(items=[user("search twice")]))
    assert events == [
        TextDelta("Let me look."),
        FunctionCall("search", '{"q": 1}', "call_x"),
        FunctionCall("search", "{}", "call_y"),
    ]


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, UpstreamAuthFailed),
        (403, UpstreamAuthFailed),
        (404, UpstreamRejected),
        (400, UpstreamRejected),
        (429, UpstreamBusy),
        (500, UpstreamError),
    ],
)
async def test_http_errors_are_mapped(
    responder: ChatCompletionsResponder, state: ChatServerState, status: int, error: type[UpstreamError]
) -> None:
    state.status = status
    state.error_message = f"model broke; Incorrect API key provided: {API_KEY}"
    with pytest.raises(UpstreamError) as caught:
        await collect(responder, ResponderRequest(items=[user("hi")]))
    assert type(caught.value) is error
    assert f"HTTP {status}" in caught.value.message
    assert API_KEY not in caught.value.message
    if error in (UpstreamRejected, UpstreamError):
        assert "model broke" in caught.value.message  # the server's reason is carried
    if error is UpstreamBusy:
        assert caught.value.retry_after == 7
    assert len(state.requests) == 1  # no retries


async def test_an_error_event_mid_stream_is_an_upstream_error(
    responder: ChatCompletionsResponder, state: ChatServerState
) -> None:
    state.chunks = [chunk({"content": "Hi"}), {"error": {"message": "out of memory", "type": "server_error"}}]
    received: list[ResponderEvent] = []
    with pytest.raises(UpstreamError, match="out of memory"):
        await collect(responder, ResponderRequest(items=[user("hi")]), received)
    assert received == [TextDelta("Hi")]


async def test_connection_refused_is_unreachable() -> None:
    responder = ChatCompletionsResponder(f"http://127.0.0.1:{free_port()}/v1", MODEL, timeout=2)
    try:
        with pytest.raises(UpstreamUnreachable, match="Could not reach"):
            await collect(responder, ResponderRequest(items=[user("hi")]))
    finally:
        await responder.aclose()


@pytest.mark.parametrize("where", ["before the response", "mid-stream"])
async def test_a_silent_server_times_out(
    responder: ChatCompletionsResponder, state: ChatServerState, where: str
) -> None:
    state.chunks = [chunk({"content": "Hi"})]
    if where == "before the response":
        state.delay_before = 3
    else:
        state.stall_after = 1
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout, match=r"within 0\.5 s"):
        await collect(responder, ResponderRequest(items=[user("hi")]))
    assert time.monotonic() - started < 2.5
    assert state.disconnected.wait(3)  # the timed-out request's connection was closed


async def test_cancelling_mid_stream_closes_the_connection(
    responder: ChatCompletionsResponder, state: ChatServerState
) -> None:
    state.chunks = [chunk({"content": "Hello"}), chunk({"content": " never"})]
    state.stall_after = 1
    first = asyncio.Event()

    async def consume() -> None:
        async for _event in responder.respond(ResponderRequest(items=[user("hi")])):
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 1)
    assert await asyncio.to_thread(state.disconnected.wait, 3)


async def test_closing_the_consumer_early_closes_the_connection(
    responder: ChatCompletionsResponder, state: ChatServerState
) -> None:
    state.chunks = [chunk({"content": "Hello"}), chunk({"content": " never"})]
    state.stall_after = 1
    stream = responder.respond(ResponderRequest(items=[user("hi")]))
    assert await anext(stream) == TextDelta("Hello")
    await cast(AsyncGenerator[ResponderEvent, None], stream).aclose()
    assert await asyncio.to_thread(state.disconnected.wait, 3)


async def test_no_api_key_sends_a_placeholder_not_the_environment_key(
    server_url: str, state: ChatServerState, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    state.chunks = [chunk({"content": "ok"}, "stop")]
    responder = ChatCompletionsResponder(f"{server_url}/", MODEL)
    try:
        assert await collect(responder, ResponderRequest(items=[user("hi")])) == [TextDelta("ok")]
    finally:
        await responder.aclose()
        await responder.aclose()  # idempotent
    assert "sk-from-the-environment" not in state.auth_headers[0]
