"""What the voice pipeline heard, told the GA way: the input transcription events of a user item.

With ``audio.input.transcription`` set, the result goes out the way the real server sends it (reference
§4.2): a few ``conversation.item.input_audio_transcription.delta`` events, then ``.completed`` with
``usage``, or ``.failed`` when the recognizer failed. The user item's ``transcript`` is filled in first, so
a client that retrieves the item on ``completed`` (the Agents SDK does) sees it. Without transcription
the words are only kept for the responder, silently.

Usage: the models billed per minute (``whisper-1``, ``gpt-realtime-whisper``, ``gpt-live-transcribe``,
``gpt-transcribe``) report their duration (``{"type": "duration", "seconds"}``), the other
transcription models tokens (user audio at 1 token per 100 ms in, the transcript's text out).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from voxgate.engine.ports import Heard
from voxgate.engine.realtime.events import server_event
from voxgate.engine.realtime.usage import audio_tokens, count_text_tokens

__all__ = ["DURATION_BILLED", "split_deltas", "transcription_events", "transcription_usage"]

DELTAS = 3  # the transcript goes out in this many pieces (fewer for short ones)
DURATION_BILLED = frozenset({"whisper-1", "gpt-realtime-whisper", "gpt-live-transcribe", "gpt-transcribe"})


def split_deltas(text: str, pieces: int = DELTAS) -> list[str]:
    """``text`` cut at word boundaries into at most ``pieces`` deltas that join back to it exactly."""
    words = text.split(" ")
    count = max(1, min(pieces, len([w for w in words if w])))
    size = -(-len(words) // count)
    return [" ".join(words[:size])] + [
        " " + " ".join(words[i : i + size]) for i in range(size, len(words), size)
    ]


def transcription_usage(model: str | None, audio_ms: float, transcript: str) -> dict[str, Any]:
    """The ``usage`` of a ``completed`` event for ``model`` (see the module docstring)."""
    if model in DURATION_BILLED:
        return {"type": "duration", "seconds": round(audio_ms / 1000, 3)}
    audio_in = audio_tokens(round(audio_ms), assistant=False)
    text_out = count_text_tokens(transcript)
    return {
        "type": "tokens",
        "input_tokens": audio_in,
        "output_tokens": text_out,
        "total_tokens": audio_in + text_out,
        "input_token_details": {"text_tokens": 0, "audio_tokens": audio_in},
    }


def transcription_events(
    item_id: str, heard: Heard, transcription: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """The events telling a client what was heard in ``item_id`` (none when it asked for none)."""
    if not transcription:
        return []
    ids = {"item_id": item_id, "content_index": 0}
    if heard.text is None:
        kind = type(heard.error).__name__ if heard.error is not None else "an error"
        error = {
            "type": "server_error",
            "code": "transcription_failed",
            "message": f"Input transcription failed: {kind}.",
            "param": None,
        }
        return [server_event("conversation.item.input_audio_transcription.failed", **ids, error=error)]
    events = [
        server_event("conversation.item.input_audio_transcription.delta", **ids, delta=delta)
        for delta in (split_deltas(heard.text) if heard.text else [])
    ]
    usage = transcription_usage(transcription.get("model"), heard.audio_ms, heard.text)
    events.append(
        server_event(
            "conversation.item.input_audio_transcription.completed", **ids, transcript=heard.text, usage=usage
        )
    )
    return events
