"""What the engine heard in each user audio item, for the responder.

A responder reads words, not audio, so every committed user turn is transcribed, whether or not the
client asked for transcription events (``audio.input.transcription``). The words are kept here rather
than only in the item: with transcription off the item's ``transcript`` must stay null, as the real
server shows it, yet the responder still needs them. A response that starts while a turn is still being
transcribed (push-to-talk clients send ``commit`` and ``response.create`` back to back) waits for it in
:meth:`TranscriptBook.fill`.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Sequence
from typing import Any

__all__ = ["TranscriptBook"]

log = logging.getLogger(__name__)
WAIT_LIMIT_S = 30.0  # a recognizer stuck longer than this is not waited for


class TranscriptBook:
    """Transcripts by item id, and the ones still being made. One per session."""

    def __init__(self) -> None:
        self._heard: dict[str, str] = {}
        self._pending: dict[str, asyncio.Future[None]] = {}

    def expect(self, item_id: str) -> None:
        """A transcript of ``item_id`` is on its way; responses that include the item wait for it."""
        if item_id not in self._pending:
            self._pending[item_id] = asyncio.get_running_loop().create_future()

    def settle(self, item_id: str, text: str | None) -> None:
        """The transcript of ``item_id`` (None: none could be made); releases the waiting responses."""
        if text is not None:
            self._heard[item_id] = text
        waiting = self._pending.pop(item_id, None)
        if waiting is not None and not waiting.done():
            waiting.set_result(None)

    def get(self, item_id: str) -> str | None:
        """The transcript of ``item_id`` if known."""
        return self._heard.get(item_id)

    async def fill(self, items: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Copies of ``items`` whose untranscribed ``input_audio`` parts carry what was heard.

        Waits (up to :data:`WAIT_LIMIT_S`) for transcripts of these items that are still being made.
        """
        waiting = [self._pending[i["id"]] for i in items if i.get("id") in self._pending]
        if waiting:
            try:
                await asyncio.wait_for(asyncio.gather(*(asyncio.shield(w) for w in waiting)), WAIT_LIMIT_S)
            except TimeoutError:
                log.warning("responding without %d transcript(s) still being made", len(waiting))
        filled = []
        for item in items:
            heard = self._heard.get(item.get("id", ""))
            parts = item.get("content") or []
            if heard is None or not any(p.get("type") == "input_audio" for p in parts):
                filled.append(item)
                continue
            item = copy.deepcopy(item)
            for part in item["content"]:
                if part.get("type") == "input_audio" and not part.get("transcript"):
                    part["transcript"] = heard
            filled.append(item)
        return filled
