"""The server events a call's supervisor acts on, parsed at the boundary into the official SDK's types.

A sideband carries every event of the call; the supervisor needs a handful of them (items, transcripts,
usage, errors, the session's config). Those are validated with the SDK's own models; every other event
is recognised by its ``type`` alone and skipped without building a model.
"""

from __future__ import annotations

import json
from typing import Any, TypeAlias, cast

from openai.types.realtime import (
    ConversationItemAdded,
    ConversationItemDeletedEvent,
    ConversationItemDone,
    ConversationItemInputAudioTranscriptionCompletedEvent,
    ConversationItemTruncatedEvent,
    RealtimeErrorEvent,
    ResponseDoneEvent,
    SessionCreatedEvent,
    SessionUpdatedEvent,
)
from openai.types.realtime.realtime_server_event import ConversationItemRetrieved
from pydantic import BaseModel, ValidationError

__all__ = ["SUPERVISED_TYPES", "SupervisedEvent", "parse_supervised_event"]

SupervisedEvent: TypeAlias = (
    ConversationItemAdded
    | ConversationItemDone
    | ConversationItemRetrieved
    | ConversationItemDeletedEvent
    | ConversationItemTruncatedEvent
    | ConversationItemInputAudioTranscriptionCompletedEvent
    | ResponseDoneEvent
    | RealtimeErrorEvent
    | SessionCreatedEvent
    | SessionUpdatedEvent
)

_MODELS: dict[str, type[BaseModel]] = {
    "conversation.item.added": ConversationItemAdded,
    "conversation.item.done": ConversationItemDone,
    "conversation.item.retrieved": ConversationItemRetrieved,
    "conversation.item.deleted": ConversationItemDeletedEvent,
    "conversation.item.truncated": ConversationItemTruncatedEvent,
    "conversation.item.input_audio_transcription.completed": (
        ConversationItemInputAudioTranscriptionCompletedEvent
    ),
    "response.done": ResponseDoneEvent,
    "error": RealtimeErrorEvent,
    "session.created": SessionCreatedEvent,
    "session.updated": SessionUpdatedEvent,
}
SUPERVISED_TYPES = frozenset(_MODELS)


def parse_supervised_event(raw: bytes | str) -> SupervisedEvent | None:
    """The event as an SDK model if the supervisor acts on its type, else None.

    A frame that is not JSON, or a supervised type that does not match the official schema, is None
    too: the supervisor must keep watching the call whatever an upstream sends.
    """
    try:
        data: Any = json.loads(raw)
    except ValueError:
        return None
    kind = data.get("type") if isinstance(data, dict) else None
    model = _MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        return None
    try:
        return cast(SupervisedEvent, model.model_validate(data))
    except ValidationError:
        return None
