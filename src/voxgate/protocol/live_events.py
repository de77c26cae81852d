"""The GPT-Live sideband events a call's supervisor acts on, parsed at the boundary into the SDK's types.

A Live sideband (``/live/sessions/{id}/attach``) carries every server event of the session plus the
reflected audio in both directions, which is most of its bytes. The supervisor needs the transcripts,
the cumulative usage, the close and errors: those are validated with the official models
(``openai.types.live``); every other frame is recognised by its ``type`` alone and skipped without being
decoded further (a reflected-audio frame is never parsed as a model).
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeAlias, cast

from openai.types.live import (
    ErrorEvent,
    InputTranscriptDeltaEvent,
    OutputTranscriptDeltaEvent,
    SessionClosedEvent,
    SessionStartedEvent,
    SessionUsageUpdatedEvent,
)
from pydantic import BaseModel, ValidationError

__all__ = ["LIVE_SUPERVISED_TYPES", "LiveSupervisedEvent", "parse_live_event"]

LiveSupervisedEvent: TypeAlias = (
    SessionStartedEvent
    | InputTranscriptDeltaEvent
    | OutputTranscriptDeltaEvent
    | SessionUsageUpdatedEvent
    | SessionClosedEvent
    | ErrorEvent
)

_MODELS: dict[str, type[BaseModel]] = {
    "session.started": SessionStartedEvent,
    "session.input_transcript.delta": InputTranscriptDeltaEvent,
    "session.output_transcript.delta": OutputTranscriptDeltaEvent,
    "session.usage.updated": SessionUsageUpdatedEvent,
    "session.closed": SessionClosedEvent,
    "error": ErrorEvent,
}
LIVE_SUPERVISED_TYPES = frozenset(_MODELS)

# Reflected audio frames start like this (OpenAI and the engine write "type" first); they are the bulk of
# a sideband's traffic and never supervised, so they skip the JSON decoder altogether.
_REFLECTED_AUDIO = re.compile(rb'\{\s*"type"\s*:\s*"session\.(?:input_audio\.append|output_audio\.delta)"')


def parse_live_event(raw: bytes | str) -> LiveSupervisedEvent | None:
    """The event as an SDK model if the supervisor acts on its type, else None.

    A frame that is not JSON, or a supervised type that does not match the official schema, is None too:
    the supervisor keeps watching the session whatever an upstream sends.
    """
    head = raw[:64].encode() if isinstance(raw, str) else raw[:64]
    if _REFLECTED_AUDIO.match(head):
        return None
    try:
        data: Any = json.loads(raw)
    except ValueError:
        return None
    kind = data.get("type") if isinstance(data, dict) else None
    model = _MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        return None
    try:
        return cast(LiveSupervisedEvent, model.model_validate(data))
    except ValidationError:
        return None
