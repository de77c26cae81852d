"""What a Live session remembers and says about the conversation: the history its replies read, the
input transcript deltas of a turn, and the responder that speaks a given text.

GPT-Live has no conversation items on the wire; the responder still reads GA-shaped message items, so
the startup ``input`` and every turn become such items here. A turn's words are spread over its span of
the timeline in deltas of about 200 ms (reference §10.5), concatenated in order with no done event.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from voxgate.engine.live.events import live_event
from voxgate.engine.ports import ResponderRequest, TextDelta

__all__ = ["FixedResponder", "input_transcript_deltas", "message"]

TRANSCRIPT_STEP_MS = 200


def message(role: str, text: str) -> dict[str, Any]:
    """A GA message item holding ``text``."""
    kind = "output_text" if role == "assistant" else "input_text"
    return {"type": "message", "role": role, "content": [{"type": kind, "text": text}]}


def startup_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A startup ``input`` message as a history item."""
    texts = [str(part.get("text") or "") for part in item.get("content") or []]
    return message(str(item.get("role") or "user"), " ".join(texts))


def input_transcript_deltas(words: list[str], start_ms: int, end_ms: int) -> list[dict[str, Any]]:
    """``session.input_transcript.delta`` events placing ``words`` on ``[start_ms, end_ms]``."""
    count = max(1, min(len(words), (end_ms - start_ms) // TRANSCRIPT_STEP_MS))
    size = -(-len(words) // count)
    pieces = [" ".join(words[i : i + size]) for i in range(0, len(words), size)]
    step = (end_ms - start_ms) / len(pieces)
    return [
        live_event(
            "session.input_transcript.delta",
            delta=piece if index == 0 else f" {piece}",
            start_ms=round(start_ms + index * step),
            end_ms=round(start_ms + (index + 1) * step),
        )
        for index, piece in enumerate(pieces)
    ]


class FixedResponder:
    """A responder that says one given text (commentary)."""

    def __init__(self, text: str) -> None:
        self._text = text

    async def respond(self, request: ResponderRequest) -> AsyncIterator[TextDelta]:
        """The text, as one delta."""
        yield TextDelta(self._text)
