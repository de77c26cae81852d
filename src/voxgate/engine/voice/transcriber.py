"""Last stage: a committed user turn → what was heard in it, reported to the session.

Each committed turn is transcribed exactly once (Whisper pads every call to 30 s, so there is no cheap
way to stream it). The result, or the failure, goes to the session as a :class:`~voxgate.engine.ports.Heard`
(``VoiceSession.transcribed``), which tells its client in its protocol's terms (GA transcription events,
GPT-Live transcript deltas) and keeps the words for the responder.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from voxgate.engine.audio import pcm16_duration_ms
from voxgate.engine.ports import Heard, VoiceSession
from voxgate.engine.speech.base import SpeechRecognizer
from voxgate.engine.voice.input_audio import decode_input

__all__ = ["Transcriber", "has_words"]

log = logging.getLogger(__name__)


def has_words(text: str | None) -> bool:
    """True when a transcript holds a word: "", "." or "…" (what silence may give) hold none, and such a
    turn is not answered."""
    return bool(text) and any(char.isalnum() for char in text or "")


class Transcriber:
    """Runs the shared recognizer on one session's committed turns."""

    def __init__(self, recognizer: SpeechRecognizer) -> None:
        self._recognizer = recognizer

    async def transcribe(
        self, session: VoiceSession, item_id: str, audio: bytes, audio_format: Mapping[str, object]
    ) -> str | None:
        """Transcribe the committed audio of ``item_id``; returns the text (None when ASR failed).

        Always reports to ``session.transcribed`` exactly once, so a waiting response goes ahead.
        """
        pcm, rate = decode_input(audio, audio_format)
        try:
            result = await self._recognizer.transcribe(
                pcm, sample_rate=rate, language=session.transcription_language
            )
            text = result.text.strip()
        except Exception as exc:  # a failing stage reports, never kills the call
            log.warning("transcription of %s failed", item_id, exc_info=True)
            await session.transcribed(item_id, Heard(None, pcm16_duration_ms(pcm, rate), exc))
            return None
        await session.transcribed(item_id, Heard(text, pcm16_duration_ms(pcm, rate)))
        return text
