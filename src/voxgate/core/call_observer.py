"""What a call's sideband events mean for the ledger: a sans-I/O observer.

The supervisor feeds every supervised event (see :mod:`voxgate.protocol.sideband_events`) to a
:class:`CallObserver` and carries out the actions it returns: record an item, a response or a
transcription; fetch an item the sideband missed; note that the session ended. Nothing here does I/O, so
the whole mapping (and its cost arithmetic) is tested on plain events.

Items the sideband did not see (it attached late, or a replica died and another re-attached) are fetched
with ``conversation.item.retrieve`` when a later item names them as its ``previous_item_id``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from voxgate.core.ledger import CallItem, CallResponse, Transcription
from voxgate.core.prices import PriceTable, response_cost, transcription_cost
from voxgate.protocol.sideband_events import SupervisedEvent, parse_supervised_event

__all__ = [
    "Action",
    "CallObserver",
    "RecordItem",
    "RecordResponse",
    "RecordTranscription",
    "RecordUsage",
    "RetrieveItem",
    "SessionEnded",
    "item_record",
]


@dataclass(frozen=True, slots=True)
class RecordItem:
    item: CallItem


@dataclass(frozen=True, slots=True)
class RecordResponse:
    response: CallResponse


@dataclass(frozen=True, slots=True)
class RecordTranscription:
    transcription: Transcription


@dataclass(frozen=True, slots=True)
class RecordUsage:
    """A cumulative usage (GPT-Live's ``session.usage.updated``): it replaces the last one, never adds."""

    usage: CallResponse


@dataclass(frozen=True, slots=True)
class RetrieveItem:
    """Ask the upstream for an item the sideband never saw (``conversation.item.retrieve``)."""

    item_id: str


@dataclass(frozen=True, slots=True)
class SessionEnded:
    reason: str


Action = RecordItem | RecordResponse | RecordTranscription | RecordUsage | RetrieveItem | SessionEnded


def _dump(value: Any) -> dict[str, Any]:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    return dict(value) if isinstance(value, dict) else {}


def _text_of(content: Iterable[Any]) -> str | None:
    """The words of an item's content parts: typed text, or the transcript of audio."""
    texts = []
    for part in content:
        for field in ("text", "transcript"):
            value = getattr(part, field, None)
            if isinstance(value, str) and value:
                texts.append(value)
                break
    return " ".join(texts) if texts else None


def item_record(item: Any, previous_item_id: str | None = None) -> CallItem | None:
    """A ledger item from an SDK conversation item (None for item kinds the ledger does not keep)."""
    item_id = getattr(item, "id", None)
    kind = getattr(item, "type", None)
    if not isinstance(item_id, str) or not item_id:
        return None
    status = getattr(item, "status", None)
    if kind == "message":
        role = str(getattr(item, "role", "user"))
        return CallItem(
            item_id, role, "message", _text_of(getattr(item, "content", None) or []), status, previous_item_id
        )
    if kind == "function_call":
        text = f"{getattr(item, 'name', '')}({getattr(item, 'arguments', '') or ''})"
        return CallItem(item_id, "assistant", kind, text, status, previous_item_id)
    if kind == "function_call_output":
        return CallItem(
            item_id, "tool", kind, str(getattr(item, "output", "") or ""), status, previous_item_id
        )
    return None


class CallObserver:
    """Turns one call's events into ledger actions. ``known_items`` are item ids already recorded (after
    a re-attach), so that only truly missing items are fetched."""

    def __init__(
        self,
        *,
        model: str | None,
        transcription_model: str | None,
        prices: PriceTable,
        known_items: Iterable[str] = (),
    ) -> None:
        self.model = model
        self.transcription_model = transcription_model
        self._prices = prices
        self._known: set[str] = set(known_items)
        self._requested: set[str] = set()

    def parse(self, raw: bytes) -> SupervisedEvent | None:
        """The frame as an SDK event if the supervisor acts on its type, else None."""
        return parse_supervised_event(raw)

    def feed(self, event: SupervisedEvent) -> list[Action]:
        """The actions one event calls for, in order."""
        kind = event.type
        if kind in ("conversation.item.added", "conversation.item.done"):
            previous = getattr(event, "previous_item_id", None)
            return self._item(getattr(event, "item", None), previous)
        if kind == "conversation.item.retrieved":
            return self._item(getattr(event, "item", None), None, retrieved=True)
        if kind == "conversation.item.input_audio_transcription.completed":
            return self._transcription(event)
        if kind == "conversation.item.truncated":
            item_id = str(getattr(event, "item_id", ""))
            ms = int(getattr(event, "audio_end_ms", 0) or 0)
            return [RecordItem(CallItem(item_id, "assistant", "message", None, None, None, True, ms))]
        if kind == "response.done":
            return self._response(getattr(event, "response", None))
        if kind in ("session.created", "session.updated"):
            self._session(getattr(event, "session", None))
            return []
        if kind == "error":
            error = getattr(event, "error", None)
            if getattr(error, "code", None) == "session_expired":
                return [SessionEnded("session_expired")]
        return []

    def _item(self, item: Any, previous: str | None, *, retrieved: bool = False) -> list[Action]:
        record = item_record(item, previous)
        if record is None:
            return []
        if retrieved and record.item_id in self._known:
            return []  # a retrieve this observer did not ask for, of an item already recorded
        actions: list[Action] = [RecordItem(record)]
        self._known.add(record.item_id)
        if previous and previous not in self._known and previous not in self._requested:
            self._requested.add(previous)
            actions.append(RetrieveItem(previous))
        return actions

    def _transcription(self, event: Any) -> list[Action]:
        item_id = str(getattr(event, "item_id", ""))
        transcript = getattr(event, "transcript", None)
        usage = _dump(getattr(event, "usage", None))
        seconds = usage.get("seconds") if usage.get("type") == "duration" else None
        cost = (
            transcription_cost(
                self._prices,
                self.transcription_model,
                seconds=float(seconds) if seconds is not None else None,
                usage=usage,
            )
            if self.transcription_model
            else None
        )
        self._known.add(item_id)
        text = transcript if isinstance(transcript, str) else None
        return [
            RecordItem(CallItem(item_id, "user", "message", text, "completed")),
            RecordTranscription(Transcription(item_id, self.transcription_model, seconds, usage, cost)),
        ]

    def _response(self, response: Any) -> list[Action]:
        response_id = getattr(response, "id", None)
        if not isinstance(response_id, str):
            return []
        status = str(getattr(response, "status", None) or "completed")
        usage = _dump(getattr(response, "usage", None))
        cost = response_cost(self._prices, self.model, usage) if self.model else None
        actions: list[Action] = []
        cut_short = status in ("cancelled", "incomplete")
        for item in getattr(response, "output", None) or []:
            record = item_record(item)
            if record is None:
                continue
            if cut_short:
                record = CallItem(
                    record.item_id, record.role, record.type, record.text, "incomplete", None, True
                )
            self._known.add(record.item_id)
            actions.append(RecordItem(record))
        actions.append(RecordResponse(CallResponse(response_id, status, usage, cost, self.model)))
        return actions

    def _session(self, session: Any) -> None:
        model = getattr(session, "model", None)
        if isinstance(model, str) and model:
            self.model = model
        audio = getattr(session, "audio", None)
        audio_input = getattr(audio, "input", None)
        if audio_input is None or "transcription" not in (audio_input.model_fields_set or set()):
            return
        transcription = getattr(audio_input, "transcription", None)
        self.transcription_model = getattr(transcription, "model", None) if transcription else None
