"""Resolving ``response.create`` options against the session config into a :class:`ResponsePlan`.

Per-response options override the session for that response only (reference §4.1): modalities,
instructions, tools, tool choice, token cap, voice/format, metadata, ``conversation: "none"`` for an
out-of-band response, and ``input`` (items or ``item_reference``s) replacing the conversation as context.
"""

from __future__ import annotations

from typing import Any

from voxgate.engine.ports import ResponderRequest
from voxgate.engine.realtime.conversation import Conversation
from voxgate.engine.realtime.input_buffer import bytes_per_ms
from voxgate.engine.realtime.response import ResponsePlan
from voxgate.engine.realtime.settings import SessionSettings
from voxgate.engine.realtime.usage import item_tokens
from voxgate.errors import InvalidRequest

__all__ = ["plan_response"]


def plan_response(
    session: SessionSettings, options: dict[str, Any], conversation: Conversation
) -> ResponsePlan:
    """The plan for one response; ``options`` is the ``response`` object of ``response.create`` (may be {}).

    ``session`` is the session's typed settings (built once per update). Raises :class:`InvalidRequest`
    (with ``param``) for options the real server refuses.
    """
    if session.kind != "realtime":
        raise InvalidRequest("Responses are not supported in transcription sessions.", param="type")
    modalities = options.get("output_modalities") or list(session.output_modalities)
    if sorted(modalities) not in (["audio"], ["text"]):
        raise InvalidRequest(
            "Invalid value: output_modalities must be either ['audio'] or ['text'].",
            param="response.output_modalities",
        )
    target = options.get("conversation", "auto")
    if target not in ("auto", "none"):
        raise InvalidRequest(
            f"Invalid value: '{target}'. Supported values are: 'auto' and 'none'.",
            param="response.conversation",
        )
    items, tokens = _context(options, conversation)
    wanted = (options.get("audio") or {}).get("output") or {}
    tool_choice = options.get("tool_choice", session.tool_choice)
    max_tokens = options.get("max_output_tokens", session.max_output_tokens)
    if isinstance(max_tokens, int) and not 1 <= max_tokens <= 4096:
        raise InvalidRequest(
            f"Invalid 'max_output_tokens': integer {max_tokens} is out of range [1, 4096].",
            code="integer_out_of_range",
            param="response.max_output_tokens",
        )
    request = ResponderRequest(
        items=items,
        instructions=options.get("instructions", session.instructions),
        tools=list(options.get("tools", session.tools)),
        tool_choice=tool_choice,
        max_output_tokens=max_tokens if isinstance(max_tokens, int) else None,
        metadata=dict(options.get("metadata") or {}),
    )
    return ResponsePlan(
        request=request,
        conversation=conversation if target == "auto" else None,
        modality="text" if modalities == ["text"] else "audio",
        input_tokens=tokens,
        max_output_tokens=max_tokens,
        output_format=wanted.get("format") or dict(session.output_format),
        voice=wanted.get("voice")
        or (session.voice if isinstance(session.voice, str) else dict(session.voice)),
        speed=session.speed,
        metadata=options.get("metadata"),
    )


def _context(
    options: dict[str, Any], conversation: Conversation
) -> tuple[list[dict[str, Any]], list[tuple[int, int]]]:
    """The items the responder sees and their token costs."""
    if "input" not in options:
        items = conversation.items()
        return items, [item_tokens(i, conversation.audio_ms(i["id"])) for i in items]
    items, tokens = [], []
    for index, entry in enumerate(options["input"] or []):
        if entry.get("type") == "item_reference":
            ref = entry.get("id")
            if not isinstance(ref, str) or ref not in conversation:
                raise InvalidRequest(
                    f"Item with item_id not found: {ref}",
                    code="item_not_found",
                    param=f"response.input[{index}].id",
                )
            item = next(i for i in conversation.items() if i["id"] == ref)
            items.append(item)
            tokens.append(item_tokens(item, conversation.audio_ms(ref)))
        else:
            # Inline items carry their audio base64 in the content: count it by size.
            audio = sum(len(p.get("audio") or "") * 3 // 4 for p in entry.get("content") or [])
            items.append(entry)
            tokens.append(item_tokens(entry, audio // bytes_per_ms(None)))
    return items, tokens
