"""The synthetic probe's sentences and its result: what ``voxgate probe`` said, heard and measured.

The sentences are plain, clearly spoken English with numbers written as words, so that the word error
rate measures the transcription, not the text normalisation. The result is a plain record the client
fills, the SQL adapter stores, the metrics export and the dashboard charts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["PROBE_SENTENCES", "ProbeResult", "ProbeRunner", "ProbeTarget"]

PROBE_SENTENCES = (
    "Please call me back tomorrow morning.",
    "The weather today is sunny and warm.",
    "I would like to book a table for two people.",
)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One probe call. ``outcome`` is ``ok`` or what failed (``connect_failed``, ``no_transcript``…);
    times are milliseconds; ``wer`` is 0–1 (it can pass 1 when the upstream heard extra words)."""

    target: str
    outcome: str
    expected: str
    heard: str | None = None
    wer: float | None = None
    connect_ms: float | None = None
    first_audio_ms: float | None = None
    error: str | None = None
    created_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


@dataclass(frozen=True, slots=True)
class ProbeTarget:
    """Where a probe call goes: a calls URL, the key to post with (never shown) and a label for it."""

    calls_url: str
    key: str = field(repr=False)
    label: str
    model: str | None = None


#: Runs one probe call against a target (``voxgate.client.probe.ProbeRunner`` is one).
ProbeRunner = Callable[[ProbeTarget], Awaitable[ProbeResult]]
