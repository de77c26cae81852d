"""The call ledger's records, as the rest of voxgate sees them (pure data, no I/O).

A call is known by two ids: voxgate's own (``vgc_…``, the only one a browser ever sees) and the
upstream's (``rtc_…``). Everything the supervisor learns from a call's sideband is written as one of
these records; every write is keyed by an upstream id (item id, response id), so a replayed event, a
re-attached sideband or two replicas racing can never duplicate or lose a row.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, Protocol

__all__ = [
    "CALL_ID_PREFIX",
    "CallDetail",
    "CallItem",
    "CallRecord",
    "CallResponse",
    "CallSummary",
    "EndReason",
    "Ledger",
    "NewCall",
    "Transcription",
    "new_call_id",
    "order_items",
]

CALL_ID_PREFIX = "vgc_"

CallMode = Literal["relay", "ephemeral"]
#: Why a call ended. ``hangup``: someone asked voxgate to end it; ``unwatchable``: its sideband could not
#: be attached, so voxgate hung it up; ``upstream_closed``: the upstream ended it (the caller left, never
#: connected, or hung up); ``session_expired``: it reached the upstream's maximum length.
EndReason = Literal["hangup", "unwatchable", "upstream_closed", "session_expired", "shutdown_lost"]


def new_call_id() -> str:
    """A fresh voxgate call id (``vgc_`` + 24 hex digits)."""
    return CALL_ID_PREFIX + secrets.token_hex(12)


@dataclass(frozen=True, slots=True)
class NewCall:
    """A call voxgate has just learned about: from its relay, or from a console reporting it."""

    upstream_call_id: str
    user_id: int
    mode: CallMode
    model: str | None
    voice: str | None
    client_ip: str | None
    api: str = "realtime"
    started_at: datetime | None = None
    # Chosen before the call exists when admission holds a place for it under this id.
    call_id: str | None = None
    # The API key the call was made with (revoking it ends the call).
    api_key_id: int | None = None


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One row of the ``calls`` table."""

    id: str
    upstream_call_id: str
    user_id: int
    api: str
    mode: CallMode
    model: str | None
    voice: str | None
    client_ip: str | None
    started_at: datetime
    ended_at: datetime | None = None
    end_reason: str | None = None

    @property
    def live(self) -> bool:
        return self.ended_at is None


@dataclass(frozen=True, slots=True)
class CallItem:
    """One conversation item: a user turn, an assistant reply, a function call or its output."""

    item_id: str
    role: str  # "user" | "assistant" | "system" | "tool"
    type: str  # "message" | "function_call" | "function_call_output"
    text: str | None  # the typed text, or the transcript of spoken audio
    status: str | None  # "completed" | "incomplete" | "in_progress"
    previous_item_id: str | None = None
    interrupted: bool = False  # the reply was cut off (cancelled, barge-in)
    truncated_ms: int | None = None  # what was played, when the client truncated the item
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CallResponse:
    """One ``response.done``: its status and full usage breakdown, and what it cost."""

    response_id: str
    status: str
    usage: dict[str, Any]
    cost_usd: Decimal | None  # None: the model's price is unknown (never a guess)
    model: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Transcription:
    """Input transcription of one user item (billed per minute, or in tokens, under the ASR model)."""

    item_id: str
    model: str | None
    seconds: float | None
    usage: dict[str, Any]
    cost_usd: Decimal | None
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CallSummary:
    """A call as History lists it."""

    call: CallRecord
    user_name: str | None
    cost_usd: Decimal | None  # None when some part of the call's price is unknown
    cost_known: bool
    first_words: str | None
    items: int

    @property
    def duration_s(self) -> float | None:
        if self.call.ended_at is None:
            return None
        return (self.call.ended_at - self.call.started_at).total_seconds()


@dataclass(frozen=True, slots=True)
class CallDetail:
    """A call with its whole transcript, usage and cost."""

    summary: CallSummary
    items: list[CallItem] = field(default_factory=list)
    responses: list[CallResponse] = field(default_factory=list)
    transcriptions: list[Transcription] = field(default_factory=list)


def order_items(items: Iterable[CallItem]) -> list[CallItem]:
    """Conversation order: follow each item's ``previous_item_id``; items whose predecessor is unknown
    keep the order they were recorded in. (Items a re-attached sideband fetched late still land where
    the conversation had them.)"""
    recorded = list(items)
    by_previous: dict[str | None, list[CallItem]] = {}
    known = {item.item_id for item in recorded}
    for item in recorded:
        anchor = item.previous_item_id if item.previous_item_id in known else None
        by_previous.setdefault(anchor, []).append(item)
    ordered: list[CallItem] = []
    seen: set[str] = set()

    def walk(anchor: str | None) -> None:
        for item in by_previous.get(anchor, []):
            if item.item_id in seen:
                continue
            seen.add(item.item_id)
            ordered.append(item)
            walk(item.item_id)

    walk(None)
    # A cycle (never from a real upstream) would leave items out: keep them, at the end.
    ordered.extend(item for item in recorded if item.item_id not in seen)
    return ordered


class Ledger(Protocol):
    """Where calls are recorded. Implemented over SQL by ``voxgate.adapters.sql.LedgerStore``."""

    async def open_call(self, call: NewCall) -> CallRecord:
        """Record a call (idempotent by ``upstream_call_id``: a second open returns the first row)."""
        ...

    async def get_call(self, call_id: str) -> CallRecord | None:
        """A call by voxgate id."""
        ...

    async def get_call_by_upstream(self, upstream_call_id: str) -> CallRecord | None:
        """A call by upstream id."""
        ...

    async def record_item(self, call_id: str, item: CallItem) -> None:
        """Insert or update an item by ``(call_id, item_id)``; non-null fields win over null ones."""
        ...

    async def record_response(self, call_id: str, response: CallResponse) -> None:
        """Insert a response by ``(call_id, response_id)``; a replay changes nothing."""
        ...

    async def record_usage(self, call_id: str, usage: CallResponse) -> None:
        """Insert or advance a cumulative usage (GPT-Live) by ``(call_id, response_id)``: more seconds or
        a final status (``completed``) replace it; a final one is never replaced."""
        ...

    async def record_transcription(self, call_id: str, transcription: Transcription) -> None:
        """Insert a transcription by ``(call_id, item_id)``; a replay changes nothing."""
        ...

    async def end_call(self, call_id: str, reason: str, at: datetime | None = None) -> bool:
        """Mark a call ended; the first reason wins. True if this call changed it."""
        ...

    async def live_calls(self) -> Sequence[CallRecord]:
        """Every call not yet ended (what a starting replica re-attaches to)."""
        ...

    async def list_calls(
        self, *, user_id: int | None = None, limit: int = 50, before: datetime | None = None
    ) -> Sequence[CallSummary]:
        """Newest first; ``user_id`` None lists everyone's (for admins)."""
        ...

    async def call_detail(self, call_id: str) -> CallDetail | None:
        """A call with its items in conversation order, responses and transcriptions."""
        ...

    async def delete_call(self, call_id: str) -> bool:
        """Delete a call and everything recorded about it. True if it existed."""
        ...

    async def prune_transcripts(self, older_than: datetime) -> int:
        """Blank the text of items of calls that ended before ``older_than`` (usage and cost stay).
        Returns how many calls were pruned."""
        ...
