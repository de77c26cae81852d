"""One spoken reply of a Live session: the responder's text → sentences → speech → the output.

The responder streams text; each finished sentence (or, without punctuation, a bounded piece cut at a
space) is synthesized and queued on the output as one piece, so the first words play while the rest are
still being written, and the output transcript goes out piece by piece as the audio starts. Without a
synthesizer the pieces are only words. Cancelling the task (barge-in, close) stops the reply wherever it
is; what was queued is cleared by whoever cancelled it.
"""

from __future__ import annotations

import logging
import re

from voxgate.engine.live.output import LiveOutput
from voxgate.engine.ports import FunctionCall, Responder, ResponderRequest, TextDelta
from voxgate.engine.speech.base import SpeechSynthesizer

__all__ = ["MAX_PIECE_CHARS", "speak_reply", "split_pieces"]

log = logging.getLogger(__name__)
MAX_PIECE_CHARS = 160
_SENTENCE_END = re.compile(r"[.!?…](?=\s)")


def split_pieces(text: str) -> tuple[list[str], str]:
    """(finished pieces, the rest still being written) of ``text``; the pieces join back to it."""
    pieces: list[str] = []
    while True:
        end = _SENTENCE_END.search(text)
        cut = end.end() if end is not None else None
        if cut is None and len(text) > MAX_PIECE_CHARS:
            space = text.rfind(" ", 0, MAX_PIECE_CHARS)
            cut = space if space > 0 else MAX_PIECE_CHARS
        if cut is None:
            return pieces, text
        pieces.append(text[:cut])
        text = text[cut:]


async def speak_reply(
    request: ResponderRequest,
    responder: Responder,
    output: LiveOutput,
    *,
    synthesizer: SpeechSynthesizer | None,
    voice: str | None,
) -> str:
    """Stream the reply to ``output``; returns its text."""
    said = ""
    pending = ""

    async def say(piece: str) -> None:
        if not piece.strip():
            return
        audio = b""
        if synthesizer is not None:
            audio = b"".join([chunk async for chunk in synthesizer.synthesize(piece.strip(), voice=voice)])
        output.speak(audio, piece)

    async for event in responder.respond(request):
        if isinstance(event, FunctionCall):
            log.info("live reply: the responder called %s; client delegation has no tool calls", event.name)
            continue
        assert isinstance(event, TextDelta)
        said += event.text
        pieces, pending = split_pieces(pending + event.text)
        for piece in pieces:
            await say(piece)
    await say(pending)
    return said
