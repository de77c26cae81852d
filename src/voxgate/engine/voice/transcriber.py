"""Last stage: a committed user turn → its transcript, and the input transcription events.

Each committed turn is transcribed exactly once (Whisper pads every call to 30 s, so there is no cheap
way to stream it). With ``audio.input.transcription`` set, the result is sent the way the real server
sends it (reference §4.2): a few ``conversation.item.input_audio_transcription.delta`` events, then
``.completed`` with ``usage``, or ``.failed`` when the recognizer fails. The user item's ``transcript``
is filled in first, so a client that retrieves the item on ``completed`` (the Agents SDK does) sees it.
Without transcription the words are still made and kept for the responder, silently.

Usage: the models billed per minute (``whisper-1``, ``gpt-realtime-whisper``, ``gpt-live-transcribe``,
``gpt-transcribe``) report their duration (``{"type": "duration", "seconds"}``), the other
transcription models tokens (user audio at 1 token per 100 ms in, the transcript's text out).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from voxgate.engine.audio import pcm16_duration_ms
from voxgate.engine.realtime.events import server_event
from voxgate.engine.realtime.usage import audio_tokens, count_text_tokens
from voxgate.engine.speech.base import SpeechRecognizer
from voxgate.engine.voice.input_audio import decode_input

if TYPE_CHECKING:
    from voxgate.engine.realtime.realtime_session import RealtimeSession

__all__ = ["Transcriber", "has_words", "split_deltas", "transcription_usage"]

log = logging.getLogger(__name__)
DELTAS = 3  # the transcript goes out in this many pieces (fewer for short ones)


def split_deltas(text: str, pieces: int = DELTAS) -> list[str]:
    """``text`` cut at word boundaries into at most ``pieces`` deltas that join back to it exactly."""
    words = text.split(" ")
    count = max(1, min(pieces, len([w for w in words if w])))
    size = -(-len(words) // count)
    return [" ".join(words[:size])] + [
        " " + " ".join(words[i : i + size]) for i in range(size, len(words), size)
    ]


def has_words(text: str | None) -> bool:
    """True when a transcript holds a word: "", "." or "…" (what silence may give) hold none, and such a
    turn is not answered."""
    return bool(text) and any(char.isalnum() for char in text or "")


DURATION_BILLED = frozenset({"whisper-1", "gpt-realtime-whisper", "gpt-live-transcribe", "gpt-transcribe"})


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


class Transcriber:
    """Runs the shared recognizer on one session's committed turns."""

    def __init__(self, recognizer: SpeechRecognizer) -> None:
        self._recognizer = recognizer

    async def transcribe(
        self, session: RealtimeSession, item_id: str, audio: bytes, audio_format: dict[str, object]
    ) -> str | None:
        """Transcribe the committed audio of ``item_id``; returns the text (None when ASR failed).

        Always settles ``session.transcripts`` for the item, so a waiting response goes ahead.
        """
        settings = session.settings.transcription  # None: the client asked for no transcription events
        text: str | None = None
        try:
            pcm, rate = decode_input(audio, audio_format)
            heard = await self._recognizer.transcribe(
                pcm, sample_rate=rate, language=session.settings.transcription_language
            )
            text = heard.text.strip()
        except Exception as exc:  # a failing stage reports, never kills the call
            log.warning("transcription of %s failed", item_id, exc_info=True)
            session.transcripts.settle(item_id, None)
            if settings:
                error = {
                    "type": "server_error",
                    "code": "transcription_failed",
                    "message": f"Input transcription failed: {type(exc).__name__}.",
                    "param": None,
                }
                await session.emit(
                    server_event(
                        "conversation.item.input_audio_transcription.failed",
                        item_id=item_id,
                        content_index=0,
                        error=error,
                    )
                )
            return None
        session.transcripts.settle(item_id, text)
        if not settings:
            return text
        session.set_input_transcript(item_id, text)
        ids = {"item_id": item_id, "content_index": 0}
        for delta in split_deltas(text) if text else []:
            await session.emit(
                server_event("conversation.item.input_audio_transcription.delta", **ids, delta=delta)
            )
        usage = transcription_usage(settings.get("model"), pcm16_duration_ms(pcm, rate), text)
        await session.emit(
            server_event(
                "conversation.item.input_audio_transcription.completed", **ids, transcript=text, usage=usage
            )
        )
        return text
