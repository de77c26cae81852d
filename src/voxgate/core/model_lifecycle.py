"""OpenAI's announced model shutdowns, and the warnings voxgate gives about the models it is set to use.

Source: the ``Deprecated values`` of openai-python 3.57's ``realtime_session_create_request.py`` and
``audio_transcription.py`` (reference openai-gpt-live.md §8). Only the exact names listed there are
affected: the ``-2025-10-06`` mini snapshots, for instance, have no announced date.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Final, Literal

__all__ = ["REALTIME_SHUTDOWNS", "TRANSCRIPTION_SHUTDOWNS", "Shutdown", "shutdown_warnings"]


@dataclass(frozen=True, slots=True)
class Shutdown:
    """One model's announced shutdown: the date and what to use instead."""

    on: date
    replacement: str


_REALTIME_DAY = date(2027, 1, 20)
_TRANSCRIPTION_DAY = date(2027, 2, 26)
_FULL = Shutdown(_REALTIME_DAY, "gpt-realtime-2.1")
_MINI = Shutdown(_REALTIME_DAY, "gpt-realtime-2.1-mini")
_ASR = Shutdown(_TRANSCRIPTION_DAY, "gpt-realtime-whisper (or gpt-transcribe, gpt-live-transcribe)")

#: Realtime session models (``session.model``) with an announced shutdown.
REALTIME_SHUTDOWNS: Final[Mapping[str, Shutdown]] = {
    "gpt-realtime": _FULL,
    "gpt-realtime-2025-08-28": _FULL,
    "gpt-realtime-mini": _MINI,
    "gpt-realtime-mini-2025-12-15": _MINI,
    "gpt-audio-mini": _MINI,
    "gpt-audio-mini-2025-12-15": _MINI,
}

#: Models used as input transcription (``audio.input.transcription.model``) with an announced shutdown.
TRANSCRIPTION_SHUTDOWNS: Final[Mapping[str, Shutdown]] = {
    "whisper-1": _ASR,
    "gpt-4o-mini-transcribe": _ASR,
    "gpt-4o-mini-transcribe-2025-12-15": _ASR,
    "gpt-4o-transcribe": _ASR,
    "gpt-4o-transcribe-diarize": _ASR,
}


def _sentence(
    role: Literal["Realtime", "Input transcription"], model: str, end: Shutdown, today: date
) -> str:
    if end.on > today:
        days = (end.on - today).days
        when = f"shuts down on {end.on.isoformat()} (in {days} day{'s' if days != 1 else ''})"
    else:
        when = f"shut down on {end.on.isoformat()}"
    return f"{role} model {model} {when}; use {end.replacement}."


def _unique(models: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(m for m in models if m))


def shutdown_warnings(
    realtime_models: Iterable[str], transcription_models: Iterable[str], today: date
) -> list[str]:
    """One sentence per configured model with an announced shutdown, realtime models first.

    A date still ahead reads "shuts down on …", one reached or passed reads "shut down on …"; each names
    the replacement. Duplicates and empty names are skipped; unaffected models give nothing.
    """
    warnings = [
        _sentence("Realtime", model, REALTIME_SHUTDOWNS[model], today)
        for model in _unique(realtime_models)
        if model in REALTIME_SHUTDOWNS
    ]
    warnings += [
        _sentence("Input transcription", model, TRANSCRIPTION_SHUTDOWNS[model], today)
        for model in _unique(transcription_models)
        if model in TRANSCRIPTION_SHUTDOWNS
    ]
    return warnings
