"""A :class:`~voxgate.engine.assistants.responder.Responder` backed by any OpenAI-compatible Chat
Completions server.

Ollama, vLLM, llama.cpp's server and OpenAI itself all speak ``POST {base_url}/chat/completions`` with
SSE streaming. The GA conversation items become chat messages, GA tools become chat tools, and the
streamed chunks become :class:`TextDelta` and :class:`FunctionCall` events. Upstream failures are mapped
once, here, onto the :mod:`voxgate.errors` hierarchy::

    connection refused / DNS / reset     UpstreamUnreachable
    no byte within ``timeout``           UpstreamTimeout
    HTTP 401 / 403                       UpstreamAuthFailed
    HTTP 429                             UpstreamBusy
    other HTTP 4xx                       UpstreamRejected (the server's message carried)
    HTTP 5xx, error event, bad stream    UpstreamError
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import openai
from openai.types.chat import (
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageFunctionToolCallParam,
    ChatCompletionMessageParam,
    ChatCompletionToolChoiceOptionParam,
)
from openai.types.chat.chat_completion_chunk import ChoiceDeltaToolCall

from voxgate.engine.ports import FunctionCall, ResponderEvent, ResponderRequest, TextDelta
from voxgate.errors import (
    UpstreamAuthFailed,
    UpstreamBusy,
    UpstreamError,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnreachable,
)

__all__ = ["ChatCompletionsResponder", "chat_messages", "chat_tool_choice", "chat_tools"]

# Local servers usually want no key, but the SDK refuses to start without one (or reads OPENAI_API_KEY,
# which must never be sent to some other server).
_NO_KEY = "voxgate-no-key"
_USER_PARTS = {"input_text": "text", "input_audio": "transcript"}
# ``text``/``audio`` are the beta names, still seen on retrieved items; accept both.
_ASSISTANT_PARTS = {
    "output_text": "text",
    "output_audio": "transcript",
    "text": "text",
    "audio": "transcript",
}


def _words(item: dict[str, Any], parts: Mapping[str, str]) -> str:
    texts = [p.get(parts[p.get("type", "")]) for p in item.get("content") or [] if p.get("type") in parts]
    return "\n".join(t for t in texts if isinstance(t, str) and t.strip())


def chat_messages(
    items: Sequence[dict[str, Any]], instructions: str = ""
) -> list[ChatCompletionMessageParam]:
    """Turn GA conversation items (and the instructions) into chat messages; unusable items are dropped."""
    messages: list[ChatCompletionMessageParam] = []
    if instructions.strip():
        messages.append({"role": "system", "content": instructions})
    for item in items:
        kind, role = item.get("type"), item.get("role")
        if kind == "message" and role in ("user", "system"):
            if text := _words(item, _USER_PARTS):
                messages.append({"role": role, "content": text})
        elif kind == "message" and role == "assistant":
            if text := _words(item, _ASSISTANT_PARTS):
                messages.append({"role": "assistant", "content": text})
        elif kind == "function_call" and item.get("name"):
            call: ChatCompletionMessageFunctionToolCallParam = {
                "id": str(item.get("call_id") or ""),
                "type": "function",
                "function": {"name": str(item["name"]), "arguments": str(item.get("arguments") or "{}")},
            }
            last = messages[-1] if messages else None
            # One response may say something and call several tools; chat models expect all of that in a
            # single assistant turn, and some chat templates reject two assistant messages in a row.
            if last is not None and last["role"] == "assistant":
                last["tool_calls"] = [*last.get("tool_calls", []), call]
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output" and item.get("call_id"):
            output = item.get("output")
            content = output if isinstance(output, str) else json.dumps(output)
            messages.append({"role": "tool", "tool_call_id": str(item["call_id"]), "content": content})
    return messages


def chat_tools(tools: Sequence[dict[str, Any]]) -> list[ChatCompletionFunctionToolParam]:
    """GA function tools as chat tools; other kinds (MCP) have no chat equivalent and are left out."""
    result: list[ChatCompletionFunctionToolParam] = []
    for tool in tools:
        if tool.get("type", "function") != "function" or not tool.get("name"):
            continue
        result.append({"type": "function", "function": {"name": str(tool["name"])}})
        if tool.get("description"):
            result[-1]["function"]["description"] = str(tool["description"])
        if isinstance(tool.get("parameters"), dict):
            result[-1]["function"]["parameters"] = tool["parameters"]
    return result


def chat_tool_choice(choice: str | dict[str, Any]) -> ChatCompletionToolChoiceOptionParam:
    """GA ``tool_choice`` as its chat equivalent; anything without one (an MCP choice) becomes ``auto``."""
    if choice == "none":
        return "none"
    if choice == "required":
        return "required"
    if isinstance(choice, dict) and choice.get("type") == "function" and choice.get("name"):
        return {"type": "function", "function": {"name": str(choice["name"])}}
    return "auto"


@dataclass
class _PartialCall:
    call_id: str = ""
    name: str = ""
    arguments: str = ""


class _ToolCallAssembler:
    """Joins streamed ``tool_calls`` fragments (keyed by index) into complete calls, in stream order."""

    def __init__(self) -> None:
        self._calls: list[_PartialCall] = []
        self._by_index: dict[int, _PartialCall] = {}

    def add(self, fragment: ChoiceDeltaToolCall, position: int) -> None:
        # ``index`` is required by the spec, but not every server sends it.
        index = fragment.index if isinstance(fragment.index, int) else position
        call = self._by_index.get(index)
        # Some servers (older Ollama) send each complete call at index 0; a new id means a new call.
        if call is None or (fragment.id and call.call_id and fragment.id != call.call_id):
            call = self._by_index[index] = _PartialCall()
            self._calls.append(call)
        function = fragment.function
        call.call_id = call.call_id or fragment.id or ""
        call.name += (function.name or "") if function is not None else ""
        call.arguments += (function.arguments or "") if function is not None else ""

    def flush(self) -> list[FunctionCall]:
        calls, self._calls, self._by_index = self._calls, [], {}
        if any(not call.name for call in calls):
            raise UpstreamError("The chat completions server streamed a tool call without a function name.")
        return [FunctionCall(c.name, c.arguments or "{}", c.call_id) for c in calls]


class ChatCompletionsResponder:
    """Answers with a model behind an OpenAI-compatible Chat Completions endpoint, streaming.

    One instance is meant to be shared by every session of an engine: it keeps only configuration and
    one :class:`openai.AsyncOpenAI` client (a connection pool), and each :meth:`respond` call has its
    own state. Its owner calls :meth:`aclose` once, at shutdown.

    ``base_url`` includes the API prefix (``http://127.0.0.1:11434/v1`` for Ollama). ``timeout`` bounds
    each network step (connect, and the wait for every chunk), not the whole reply, so a long answer
    that keeps streaming is never cut off. ``temperature`` and ``extra_body`` (server-specific fields,
    e.g. Ollama's ``{"keep_alive": "10m"}``) are added to every request.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 30.0,
        *,
        temperature: float | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout = timeout
        self.temperature = temperature
        self.extra_body = dict(extra_body or {})
        self._api_key = api_key or _NO_KEY
        # Retries are the caller's decision: a voice turn rather fails fast than stalls behind backoff.
        # The explicit Authorization header makes the SDK drop one from OPENAI_CUSTOM_HEADERS.
        self._client = openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=self._api_key,
            max_retries=0,
            timeout=timeout,
            default_headers={"Authorization": f"Bearer {self._api_key}"},
        )

    async def respond(self, request: ResponderRequest) -> AsyncIterator[ResponderEvent]:
        """Stream the model's reply to ``request``: text deltas as they arrive, then its tool calls.

        Raises an :class:`~voxgate.errors.UpstreamError` subclass when the server fails; a cancelled
        task closes the HTTP stream on its way out.
        """
        tools = chat_tools(request.tools)
        limit = request.max_output_tokens
        with self._mapped_errors():
            stream = await self._client.chat.completions.create(
                model=self.model,
                messages=chat_messages(request.items, request.instructions),
                stream=True,
                tools=tools or openai.omit,
                # A tool_choice without tools is an error on several servers.
                tool_choice=chat_tool_choice(request.tool_choice) if tools else openai.omit,
                max_tokens=limit if isinstance(limit, int) and limit > 0 else openai.omit,
                temperature=self.temperature if self.temperature is not None else openai.omit,
                extra_body=self.extra_body or None,
            )
            # Leaving this block any way (end, error, cancel, the consumer closing us) closes the response.
            async with stream:
                calls = _ToolCallAssembler()
                async for chunk in stream:
                    for choice in chunk.choices[:1]:
                        # The SDK does not validate chunks; some servers end with a choice without delta.
                        delta = choice.delta
                        if delta is not None and delta.content:
                            yield TextDelta(delta.content)
                        for position, fragment in enumerate((delta and delta.tool_calls) or []):
                            calls.add(fragment, position)
                        if choice.finish_reason is not None:
                            for call in calls.flush():
                                yield call
                for call in calls.flush():
                    yield call

    async def aclose(self) -> None:
        """Close the HTTP client; idempotent. No :meth:`respond` may run afterwards."""
        await self._client.close()

    @contextmanager
    def _mapped_errors(self) -> Iterator[None]:
        where = f"the chat completions server at {self.base_url}"
        try:
            yield
        except openai.APITimeoutError as exc:
            raise UpstreamTimeout(f"{where} did not answer within {self.timeout:g} s.") from exc
        except openai.APIConnectionError as exc:
            raise UpstreamUnreachable(f"Could not reach {where} (connection failed or dropped).") from exc
        except openai.APIStatusError as exc:
            status = exc.status_code
            if status in (401, 403):
                # The server's own text is left out: some echo the (partly masked) key back.
                raise UpstreamAuthFailed(f"{where} refused the API key (HTTP {status}).") from exc
            detail = f"{where} answered HTTP {status}: {self._detail(exc)}"
            if status == 429:
                retry = exc.response.headers.get("retry-after", "")
                raise UpstreamBusy(detail, retry_after=int(retry) if retry.isdigit() else None) from exc
            if 400 <= status < 500:
                raise UpstreamRejected(detail) from exc
            raise UpstreamError(detail) from exc
        except openai.APIError as exc:
            raise UpstreamError(f"{where} reported an error mid-stream: {self._detail(exc)}") from exc
        except json.JSONDecodeError as exc:
            raise UpstreamError(f"{where} streamed data that is not JSON.") from exc

    def _detail(self, exc: openai.APIError) -> str:
        body = exc.body
        message = body.get("message") if isinstance(body, dict) else body
        text = message if isinstance(message, str) and message.strip() else exc.message
        # Never let a key the server echoed reach a client or a log; keep proxies' HTML pages short.
        return " ".join(text.replace(self._api_key, "***").split())[:300]
