"""The shipped price table: OpenAI's published Realtime and GPT-Live prices in USD, as of :data:`AS_OF`.

Pure data, read once by :func:`voxgate.core.prices.default_prices`. Token prices are USD per 1M tokens;
a category a model has no published price for is left out (its cost is then unknown, never guessed).
Transcription prices are USD per minute of audio.

Sources: /work/shared/reference/openai-gpt-live.md §8 and openai-realtime-ga.md §5.2. Rows marked
``[I]`` there come from consistent third-party tables, not from OpenAI's own page.
"""

from __future__ import annotations

from typing import Final

__all__ = ["AS_OF", "LIVE_INIT_SECONDS", "LIVE_PER_MINUTE", "PER_MINUTE", "SNAPSHOTS", "TOKENS"]

AS_OF: Final = "2026-11-30"

_FULL = {
    "text_in": "4.00",
    "text_cached": "0.40",
    "audio_in": "32.00",
    "audio_cached": "0.40",
    "audio_out": "64.00",
    "image_in": "5.00",
    "image_cached": "0.50",
}
_MINI = {
    "text_in": "0.60",
    "text_cached": "0.06",
    "text_out": "2.40",
    "audio_in": "10.00",
    "audio_cached": "0.30",
    "audio_out": "20.00",
    "image_in": "0.80",
    "image_cached": "0.08",
}

#: USD per 1M tokens, per model.
TOKENS: Final[dict[str, dict[str, str]]] = {
    "gpt-realtime-2.1": {**_FULL, "text_out": "24.00"},
    "gpt-realtime-2.1-mini": dict(_MINI),
    "gpt-realtime-2": {**_FULL, "text_out": "24.00"},
    "gpt-realtime-1.5": {**_FULL, "text_out": "16.00"},
    # [I] in both references; shuts down 2027-01-20.
    "gpt-realtime": {**_FULL, "text_out": "16.00"},
    "gpt-realtime-mini": dict(_MINI),
    # Legacy preview: cached text costs half of fresh text, and it takes no images.
    "gpt-4o-mini-realtime-preview": {
        "text_in": "0.60",
        "text_cached": "0.30",
        "text_out": "2.40",
        "audio_in": "10.00",
        "audio_cached": "0.30",
        "audio_out": "20.00",
    },
}

#: Dated snapshots billed like their base model. Only snapshots known to share the base's price are
#: listed: dated snapshots have been priced differently before (gpt-4o-realtime-preview-2024-10-01).
SNAPSHOTS: Final[dict[str, str]] = {
    "gpt-realtime-2025-08-28": "gpt-realtime",
    "gpt-realtime-mini-2025-10-06": "gpt-realtime-mini",
    "gpt-realtime-mini-2025-12-15": "gpt-realtime-mini",
    "gpt-4o-mini-realtime-preview-2024-12-17": "gpt-4o-mini-realtime-preview",
    "gpt-4o-mini-transcribe-2025-12-15": "gpt-4o-mini-transcribe",
}

#: USD per minute of input audio, per transcription model.
PER_MINUTE: Final[dict[str, str]] = {
    "gpt-realtime-whisper": "0.017",
    "gpt-live-transcribe": "0.017",
    "gpt-transcribe": "0.0045",
    # Until their shutdown as input transcription models on 2027-02-26.
    "whisper-1": "0.006",
    "gpt-4o-mini-transcribe": "0.003",
    "gpt-4o-transcribe": "0.006",
}

#: GPT-Live: USD per minute of session time, billed per second (openai-gpt-live.md §8). ``active`` is
#: inference running (speech, silence before the idle timeout, backend wait); ``standby`` is paused
#: inference (gpt-live-1.1 over WebRTC only).
LIVE_PER_MINUTE: Final[dict[str, dict[str, str]]] = {
    "gpt-live-1": {"active": "0.05"},
    "gpt-live-1.1": {"active": "0.05", "standby": "0.02"},
}

#: Seconds of active time billed when a WebRTC Live session is created, credited once it runs: a session
#: never costs less than this (an abandoned create costs exactly this).
LIVE_INIT_SECONDS: Final = 15
