"""Output transcript in step with the audio: each caption is released when its audio starts playing.

Over WebRTC the assistant's audio is paced by the call's track, while text and speech are produced
much faster than real time. Sending ``response.output_audio_transcript.delta`` as soon as the text
exists would run seconds ahead of what the caller hears (and show words a barge-in then cuts off). So
a response queues each sentence's caption together with the playback future of its first chunk
(:meth:`Captions.add`); a small task sends the deltas in order as those futures fire.

:meth:`Captions.reserve` also bounds synthesis to a couple of sentences ahead of playback, so a
barge-in wastes little synthesis and ``response.done`` comes when the last sentence starts playing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

__all__ = ["Captions"]

SendDelta = Callable[[str], Awaitable[None]]


class Captions:
    """The captions of one spoken output item; owned by the response that speaks it."""

    def __init__(self, send_delta: SendDelta, *, lookahead: int = 2) -> None:
        self._send = send_delta
        self._room = asyncio.Semaphore(lookahead)
        self._queue: asyncio.Queue[tuple[asyncio.Future[bool] | None, str, bool] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._silenced = False
        self.spoken = ""  # the captions sent so far: the transcript the caller has started to hear

    async def reserve(self) -> None:
        """Wait until fewer than ``lookahead`` captions are waiting for their audio to start."""
        await self._room.acquire()

    def add(self, started: asyncio.Future[bool] | None, text: str, *, reserved: bool = True) -> None:
        """Send ``text`` once ``started`` is True (at once after the previous caption if None).

        ``reserved`` says the caller took a slot with :meth:`reserve`; it is given back when the caption
        is sent or dropped. A caption whose audio was dropped (False) silences every later caption.
        """
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())
        self._queue.put_nowait((started, text, reserved))

    async def _run(self) -> None:
        while (entry := await self._queue.get()) is not None:
            started, text, reserved = entry
            try:
                played = await started if started is not None else True
                if played and not self._silenced:
                    self.spoken += text
                    await self._send(text)
                else:
                    self._silenced = True
            finally:
                if reserved:
                    self._room.release()

    async def drain(self) -> None:
        """Wait until every caption added so far was sent (or dropped), then stop."""
        if self._task is None:
            return
        self._queue.put_nowait(None)
        await self._task

    async def aclose(self) -> None:
        """Stop at once: captions not sent yet never will be (their audio did not start)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
