"""Parsing client events at the boundary: JSON text → one strictly validated official event model.

The SDK's ``RealtimeClientEvent`` union is discriminated only by the SDK's own marker, which pydantic
does not see, so a bad event would be reported against whichever member failed first. Dispatching on
``type`` here gives the precise ``param`` the real server reports, and unknown keys are refused
(``unknown_parameter``) as the real server does (reference §3.3, §6.1).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from openai.types.realtime import (
    ConversationItemCreateEvent,
    ConversationItemDeleteEvent,
    ConversationItemRetrieveEvent,
    ConversationItemTruncateEvent,
    InputAudioBufferAppendEvent,
    InputAudioBufferClearEvent,
    InputAudioBufferCommitEvent,
    OutputAudioBufferClearEvent,
    ResponseCancelEvent,
    ResponseCreateEvent,
    ResponseItemReference,
    SessionUpdateEvent,
)
from pydantic import BaseModel

from voxgate.errors import InvalidRequest
from voxgate.protocol.strict import parse_strict

__all__ = ["CLIENT_EVENTS", "ClientEvent", "ClientEventError", "parse_client_event"]

CLIENT_EVENTS: dict[str, type[BaseModel]] = {
    "session.update": SessionUpdateEvent,
    "input_audio_buffer.append": InputAudioBufferAppendEvent,
    "input_audio_buffer.commit": InputAudioBufferCommitEvent,
    "input_audio_buffer.clear": InputAudioBufferClearEvent,
    "output_audio_buffer.clear": OutputAudioBufferClearEvent,
    "conversation.item.create": ConversationItemCreateEvent,
    "conversation.item.retrieve": ConversationItemRetrieveEvent,
    "conversation.item.truncate": ConversationItemTruncateEvent,
    "conversation.item.delete": ConversationItemDeleteEvent,
    "response.create": ResponseCreateEvent,
    "response.cancel": ResponseCancelEvent,
}


@dataclass(frozen=True, slots=True)
class ClientEvent:
    """A valid client event: its type, the official SDK event it parsed into (what the session dispatches
    on), the raw JSON object and the validated fields that were given."""

    type: str
    model: BaseModel
    data: dict[str, Any]
    # The parsed event dumped back to JSON with only the fields the client set (explicit nulls kept).
    payload: dict[str, Any]

    @property
    def event_id(self) -> str | None:
        """The client's ``event_id``, echoed in ``error.event_id`` when the event fails."""
        value = self.data.get("event_id")
        return value if isinstance(value, str) else None


class ClientEventError(InvalidRequest):
    """An event that could not be accepted; carries the client's ``event_id`` when it had one."""

    def __init__(self, error: InvalidRequest, event_id: str | None) -> None:
        super().__init__(error.message, code=error.code, param=error.param)
        self.event_id = event_id


def parse_client_event(raw: str | bytes) -> ClientEvent:
    """Parse one client message; raises :class:`ClientEventError` (never anything else) if it is bad."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ClientEventError(
            InvalidRequest(f"Invalid JSON: {exc}.", code="invalid_json", param=None), None
        ) from None
    if not isinstance(data, dict):
        raise ClientEventError(InvalidRequest("Expected an event object.", code="invalid_event"), None)
    event_id = data.get("event_id") if isinstance(data.get("event_id"), str) else None
    event_type = data.get("type")
    if event_type is None:
        raise ClientEventError(
            InvalidRequest("The 'type' field is missing.", code="invalid_event", param=None), event_id
        )
    official = CLIENT_EVENTS.get(event_type) if isinstance(event_type, str) else None
    if official is None:
        supported = ", ".join(f"'{name}'" for name in CLIENT_EVENTS)
        raise ClientEventError(
            InvalidRequest(
                f"Invalid value: '{event_type}'. Supported values are: {supported}.",
                code="invalid_value",
                param="type",
            ),
            event_id,
        )
    try:
        checked, references = _take_references(data) if event_type == "response.create" else (data, {})
        model: BaseModel = parse_strict(official, checked)
    except InvalidRequest as exc:
        raise ClientEventError(exc, event_id) from None
    payload: dict[str, Any] = model.model_dump(mode="json", exclude_unset=True, by_alias=True)
    if references:
        items = payload["response"]["input"]
        for index in sorted(references):
            items.insert(index, references[index])
    return ClientEvent(type=event_type, model=model, data=data, payload=payload)


def _take_references(data: dict[str, Any]) -> tuple[dict[str, Any], dict[int, dict[str, Any]]]:
    """Split ``item_reference`` entries out of ``response.input``.

    The SDK's ``ResponseCreateEvent`` model types ``input`` as full items only (references exist only in
    its request-param types), so references are validated on their own and put back afterwards.
    """
    response = data.get("response")
    if not isinstance(response, dict) or not isinstance(response.get("input"), list):
        return data, {}
    entries: list[Any] = response["input"]
    kept: list[Any] = []
    references: dict[int, dict[str, Any]] = {}
    for index, entry in enumerate(entries):
        if isinstance(entry, dict) and entry.get("type") == "item_reference":
            ref: ResponseItemReference = parse_strict(
                ResponseItemReference, entry, param_prefix=f"response.input[{index}]"
            )
            references[index] = ref.model_dump(mode="json", exclude_unset=True)
        else:
            kept.append(entry)
    return {**data, "response": {**response, "input": kept}}, references
