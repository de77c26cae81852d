"""What a GPT-Live session's sideband events mean for the ledger: a sans-I/O observer.

GPT-Live has no conversation items: the words come as transcript deltas (``session.input_transcript
.delta`` for the user, ``session.output_transcript.delta`` for the assistant) with session-relative
``start_ms``/``end_ms`` and no done event. The observer groups consecutive deltas of one speaker into one
ledger item, keyed by the ``start_ms`` of its first delta (``live_in_600``, ``live_out_1200``), and
rewrites that item's whole text as it grows: an upsert, so a replayed write changes nothing.

Usage is cumulative (``session.usage.updated``; ``session.closed`` carries the final one): each one
replaces the call's single usage row (:data:`~voxgate.core.live_cost.LIVE_USAGE_ID`), never adds to it.
"""

from __future__ import annotations

from typing import Any

from openai.types.live import (
    InputTranscriptDeltaEvent,
    OutputTranscriptDeltaEvent,
    SessionClosedEvent,
    SessionStartedEvent,
    SessionUsageUpdatedEvent,
)
from openai.types.live.session_usage import SessionUsage

from voxgate.core.call_observer import Action, RecordItem, RecordUsage, SessionEnded
from voxgate.core.ledger import CallItem, CallResponse
from voxgate.core.live_cost import LIVE_USAGE_ID, live_cost
from voxgate.core.prices import PriceTable
from voxgate.protocol.live_events import LiveSupervisedEvent, parse_live_event

__all__ = ["LiveObserver", "initial_usage", "live_end_reason"]

_ROLES = {
    "session.input_transcript.delta": ("user", "in"),
    "session.output_transcript.delta": ("assistant", "out"),
}


def live_end_reason(reason: str) -> str:
    """The ledger's end reason for a ``session.closed`` reason (the session's own words, except the
    duration limit, which reads as the Realtime calls' ``session_expired``)."""
    return "session_expired" if reason == "expired" else reason


def initial_usage(prices: PriceTable, model: str | None) -> CallResponse:
    """The usage row of a session just created: nothing run yet, the creation charge already billed."""
    usage: dict[str, Any] = {"seconds": 0}
    cost = live_cost(prices, model, usage) if model else None
    return CallResponse(LIVE_USAGE_ID, "in_progress", usage, cost, model)


class LiveObserver:
    """Turns one Live session's events into ledger actions.

    ``last_item`` is the call's last recorded item (after a re-attach): a speaker who goes on talking
    continues it instead of starting a second one, and the next turn follows it.
    """

    def __init__(self, *, model: str | None, prices: PriceTable, last_item: CallItem | None = None) -> None:
        self.model = model
        self._prices = prices
        self._turn: CallItem | None = last_item
        # Per speaker (full duplex: the transcripts overlap in time), the end of the latest delta recorded.
        self._end_ms: dict[str, int] = {}

    def parse(self, raw: bytes) -> LiveSupervisedEvent | None:
        """The frame as an SDK event if the ledger needs it (reflected audio and the rest: None)."""
        return parse_live_event(raw)

    def feed(self, event: LiveSupervisedEvent) -> list[Action]:
        """The actions one parsed event calls for, in order."""
        if isinstance(event, InputTranscriptDeltaEvent | OutputTranscriptDeltaEvent):
            return self._delta(event)
        if isinstance(event, SessionUsageUpdatedEvent):
            return [self._usage(event.usage, final=False)]
        if isinstance(event, SessionClosedEvent):
            self._model(event.session.model)
            return [self._usage(event.usage, final=True), SessionEnded(live_end_reason(event.reason))]
        if isinstance(event, SessionStartedEvent):
            self._model(event.session.model)
        return []

    def _model(self, model: str | None) -> None:
        if model:
            self.model = model

    def _delta(self, event: InputTranscriptDeltaEvent | OutputTranscriptDeltaEvent) -> list[Action]:
        text = event.delta
        start, end = int(event.start_ms), int(event.end_ms)
        role, tag = _ROLES[event.type]
        if end <= self._end_ms.get(role, -1) or not text:
            return []  # a replayed delta this observer already recorded, or nothing said
        self._end_ms[role] = end
        turn = self._turn
        if turn is not None and turn.role == role:
            item = CallItem(
                turn.item_id, role, "message", (turn.text or "") + text, "completed", turn.previous_item_id
            )
        else:
            previous = turn.item_id if turn is not None else None
            item = CallItem(f"live_{tag}_{start}", role, "message", text, "completed", previous)
        self._turn = item
        return [RecordItem(item)]

    def _usage(self, usage: SessionUsage, *, final: bool) -> Action:
        data = usage.model_dump(mode="json", exclude_none=True)
        cost = live_cost(self._prices, self.model, data) if self.model else None
        status = "completed" if final else "in_progress"
        return RecordUsage(CallResponse(LIVE_USAGE_ID, status, data, cost, self.model))
