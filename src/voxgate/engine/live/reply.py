"""The replies of a Live session: the responder's text → sentences → speech → the output, one at a time.

The responder streams text; each finished sentence (or, without punctuation, a bounded piece cut at a
space) is synthesized and queued on the output as one piece, so the first words play while the rest are
still being written, and the output transcript goes out piece by piece as the audio starts. Without a
synthesizer the pieces are only words. Cancelling the task (barge-in, close) stops the reply wherever it
is; what was queued is cleared by whoever cancelled it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Coroutine
from typing import Any

from voxgate.engine.live.conversation import message
from voxgate.engine.live.output import LiveOutput
from voxgate.engine.ports import FunctionCall, Responder, ResponderRequest, TextDelta
from voxgate.engine.speech.base import SpeechSynthesizer
from voxgate.errors import InvalidRequest

__all__ = ["MAX_PIECE_CHARS", "Replies", "speak_reply", "split_pieces"]

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
        text = piece  # goes with the piece's first audio: the transcript delta is sent as it starts
        if synthesizer is not None:
            # Each chunk is queued as it is made, so the first words play while the rest are synthesized.
            async for chunk in synthesizer.synthesize(piece.strip(), voice=voice):
                output.speak(chunk, text)
                text = ""
        if text:
            output.speak(b"", text)

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


class Replies:
    """The assistant's side of one session: the history replies read, and at most one reply at a time.

    ``spawn`` runs a reply as a task the session owns; ``voice`` names the synthesizer's voice.
    """

    def __init__(
        self,
        output: LiveOutput,
        *,
        responder: Responder,
        synthesizer: SpeechSynthesizer | None,
        voice: str | None,
        instructions: str | None,
        history: list[dict[str, Any]],
        spawn: Callable[[Coroutine[Any, Any, None], str], asyncio.Task[None]],
    ) -> None:
        self._output = output
        self._responder = responder
        self._synth = synthesizer
        self._voice = voice
        self._spawn = spawn
        self.instructions = [instructions or ""]
        self.history = history
        self.finished = 0  # replies over, their audio played
        self._task: asyncio.Task[None] | None = None
        self._next: list[Responder] = []  # replies waiting for the one being written (commentary)

    @property
    def writing(self) -> bool:
        """True while a reply's text is being written (a new one is refused until it ends)."""
        return self._task is not None

    @property
    def running(self) -> bool:
        """True while a reply is being written or its audio still plays."""
        return self._task is not None or self._output.busy

    def start(self, responder: Responder | None = None, what: str = "a reply") -> None:
        """Start a reply (the engine's responder unless given); refused while one is being written."""
        if self._task is not None:
            raise InvalidRequest("A reply is already being spoken.", code="reply_in_progress")
        self._task = self._spawn(self._speak(responder or self._responder), what)

    def queue(self, responder: Responder, what: str) -> None:
        """Start this reply now, or right after the one being written."""
        if self._task is None:
            self.start(responder, what)
        else:
            self._next.append(responder)

    def interrupt(self) -> None:
        """Barge-in: drop the queued audio and stop writing, at once."""
        self._output.clear()
        if self._task is not None:
            self._task.cancel()

    async def _speak(self, responder: Responder) -> None:
        request = ResponderRequest(
            items=list(self.history), instructions="\n".join(filter(None, self.instructions))
        )
        said = ""
        try:
            said = await speak_reply(
                request, responder, self._output, synthesizer=self._synth, voice=self._voice
            )
        finally:
            self._task = None
            if said:
                self.history.append(message("assistant", said))
            if self._next:
                self.start(self._next.pop(0), "a queued reply")
        await self._output.wait_idle()
        self.finished += 1
