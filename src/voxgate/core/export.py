"""A recorded call as people and programs read it: the JSON the History API serves (and exports), and a
Markdown transcript. Pure functions of the ledger's records; no I/O.

Costs leave as exact decimal strings (``"0.0123456"``, never a float) or ``null`` when some part of the
call's price is unknown. ``simulated`` marks a deployment on the local engine: its costs are what OpenAI
would have charged, and nobody was billed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from voxgate.core.ledger import CallDetail, CallItem, CallResponse, CallSummary
from voxgate.core.prices import format_usd

__all__ = [
    "ExportFormat",
    "call_detail",
    "call_summary",
    "cost_string",
    "export_filename",
    "render_json",
    "render_markdown",
    "usage_totals",
]

ExportFormat = Literal["json", "md"]
# Where each total is found in ``response.done.response.usage`` (reference §5.1).
_USAGE_PATHS: dict[str, tuple[str, ...]] = {
    "input_tokens": ("input_tokens",),
    "output_tokens": ("output_tokens",),
    "input_text_tokens": ("input_token_details", "text_tokens"),
    "input_audio_tokens": ("input_token_details", "audio_tokens"),
    "cached_tokens": ("input_token_details", "cached_tokens"),
    "output_text_tokens": ("output_token_details", "text_tokens"),
    "output_audio_tokens": ("output_token_details", "audio_tokens"),
}
_SPEAKERS = {"user": "User", "assistant": "Assistant", "system": "System", "tool": "Tool"}


def cost_string(value: Decimal | None) -> str | None:
    """An exact USD amount as a plain decimal string (no exponent, no trailing zeros: the ledger keeps
    ten places), or None when unknown."""
    if value is None:
        return None
    return format(value.normalize(), "f") if value else "0"


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    # SQLite hands back naive datetimes; every time voxgate records is UTC.
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def _count(usage: Mapping[str, Any], path: tuple[str, ...]) -> int:
    value: Any = usage
    for key in path:
        if not isinstance(value, Mapping):
            return 0
        value = value.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def usage_totals(responses: Iterable[CallResponse]) -> dict[str, int]:
    """Token totals over a call's responses (missing fields count as 0)."""
    totals = dict.fromkeys(_USAGE_PATHS, 0)
    for response in responses:
        for name, path in _USAGE_PATHS.items():
            totals[name] += _count(response.usage or {}, path)
    return totals


def call_summary(summary: CallSummary, *, simulated: bool) -> dict[str, Any]:
    """A call as ``GET /api/calls`` lists it."""
    call = summary.call
    return {
        "id": call.id,
        "started_at": _iso(call.started_at),
        "ended_at": _iso(call.ended_at),
        "duration_s": summary.duration_s,
        "end_reason": call.end_reason,
        "live": call.live,
        "model": call.model,
        "voice": call.voice,
        "mode": call.mode,
        "api": call.api,
        "cost_usd": cost_string(summary.cost_usd),
        "cost_known": summary.cost_known,
        "simulated": simulated,
        "first_words": summary.first_words,
        "items": summary.items,
        "user": summary.user_name,
    }


def _item(item: CallItem) -> dict[str, Any]:
    return {
        "item_id": item.item_id,
        "role": item.role,
        "type": item.type,
        "text": item.text,
        "status": item.status,
        "interrupted": item.interrupted,
        "truncated_ms": item.truncated_ms,
        "created_at": _iso(item.created_at),
    }


def call_detail(detail: CallDetail, *, simulated: bool) -> dict[str, Any]:
    """A call as ``GET /api/calls/{id}`` shows it (and its JSON export): the summary's fields, the items
    in conversation order, each response and transcription with its cost, and the usage totals."""
    return {
        **call_summary(detail.summary, simulated=simulated),
        "items": [_item(item) for item in detail.items],
        "responses": [
            {
                "response_id": r.response_id,
                "status": r.status,
                "model": r.model,
                "usage": r.usage,
                "cost_usd": cost_string(r.cost_usd),
                "created_at": _iso(r.created_at),
            }
            for r in detail.responses
        ],
        "transcriptions": [
            {
                "item_id": t.item_id,
                "model": t.model,
                "seconds": t.seconds,
                "usage": t.usage,
                "cost_usd": cost_string(t.cost_usd),
                "created_at": _iso(t.created_at),
            }
            for t in detail.transcriptions
        ],
        "usage": usage_totals(detail.responses),
        "transcription_seconds": sum(t.seconds or 0.0 for t in detail.transcriptions),
    }


def render_json(detail: CallDetail, *, simulated: bool) -> str:
    """The JSON export: exactly what ``GET /api/calls/{id}`` answers, indented."""
    return json.dumps(call_detail(detail, simulated=simulated), indent=2, ensure_ascii=False) + "\n"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "still running"
    whole = round(seconds)
    minutes, secs = divmod(whole, 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def _cost_line(summary: CallSummary, simulated: bool) -> str:
    if summary.cost_usd is None or not summary.cost_known:
        cost = "unknown (a price of this call's models is not known)"
    else:
        cost = format_usd(summary.cost_usd)
    return f"{cost} (simulated on the local engine; nothing was billed)" if simulated else cost


def _speaker(item: CallItem) -> str:
    if item.type == "function_call":
        return "Function call"
    if item.type == "function_call_output":
        return "Function result"
    return _SPEAKERS.get(item.role, item.role.capitalize())


def _line(item: CallItem) -> str:
    text = (item.text or "").strip()
    body = text.replace("\n", "  \n") if text else "_(no transcript)_"
    notes = []
    if item.interrupted:
        notes.append("interrupted")
    if item.truncated_ms is not None:
        notes.append(f"heard up to {item.truncated_ms / 1000:.1f} s")
    suffix = f" _({', '.join(notes)})_" if notes else ""
    return f"**{_speaker(item)}:** {body}{suffix}"


def render_markdown(detail: CallDetail, *, simulated: bool) -> str:
    """A readable transcript with a header: date, duration, model, voice, cost."""
    summary = detail.summary
    call = summary.call
    started = call.started_at if call.started_at.tzinfo else call.started_at.replace(tzinfo=UTC)
    header = [
        f"# voxgate call {call.id}",
        "",
        f"- Date: {started.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC",
        f"- Duration: {_duration(summary.duration_s)}",
        f"- Model: {call.model or 'unknown'}",
        f"- Voice: {call.voice or 'none'}",
        f"- Cost: {_cost_line(summary, simulated)}",
    ]
    if summary.user_name:
        header.append(f"- User: {summary.user_name}")
    if call.end_reason:
        header.append(f"- Ended: {call.end_reason}")
    lines = [*header, "", "## Transcript", ""]
    if not detail.items:
        lines += ["_(nothing was said)_", ""]
    for item in detail.items:
        lines += [_line(item), ""]
    return "\n".join(lines)


def export_filename(call_id: str, fmt: ExportFormat) -> str:
    """The file name an export is offered under."""
    return f"voxgate-call-{call_id}.{fmt}"
