"""One response: a responder's stream turned into the GA event sequence of reference §4.4.

``response.created`` → per output item: ``response.output_item.added`` → ``conversation.item.added`` →
(message) ``response.content_part.added`` → deltas → ``…done`` events → ``response.output_item.done`` →
``conversation.item.done``; then ``response.done`` with usage and ``rate_limits.updated``.

Text output uses ``response.output_text.*``. Audio output streams the transcript as
``response.output_audio_transcript.*`` and speaks each finished sentence with the synthesizer: over
WebSocket as base64 ``response.output_audio.delta`` (transcript deltas as the text comes); over WebRTC
into the call's playback queue, framed by ``output_audio_buffer.started`` (the session emits ``stopped``
once playback drains), each chunk tagged with its item, and each sentence's transcript delta sent when
its audio starts playing (:class:`~voxgate.engine.realtime.captions.Captions`). So over WebRTC
``response.done`` comes once the last sentence has started playing, and a cancelled response keeps in
its transcript only what began to play.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from voxgate.engine.assistants.capped import CutDelta
from voxgate.engine.ids import new_id
from voxgate.engine.ports import FunctionCall, Responder, ResponderRequest, TextDelta
from voxgate.engine.realtime.audio_out import AudioOut, DeltaAudioOut, ItemVoice
from voxgate.engine.realtime.conversation import PCM16_24K_BYTES_PER_MS, Conversation
from voxgate.engine.realtime.events import item_event, public_item, rate_limits_updated, server_event
from voxgate.engine.realtime.usage import RateWindow, count_text_tokens, usage
from voxgate.engine.speech.base import SpeechSynthesizer
from voxgate.errors import VoxgateError

__all__ = ["ResponsePlan", "ResponseRun"]

log = logging.getLogger(__name__)

Emit = Callable[[dict[str, Any]], Awaitable[None]]
# Completes a request before the responder sees it (the session fills in transcripts still being made).
Prepare = Callable[[ResponderRequest], Awaitable[ResponderRequest]]
_SENTENCE_END = re.compile(r"[.!?…;:](?:\s|$)")
HOLD_LIMIT_S = 2.0  # a held cancellation closes by itself after this long


@dataclass
class ResponsePlan:
    """Everything resolved from the session config and the ``response.create`` options."""

    request: ResponderRequest
    conversation: Conversation | None  # None: out-of-band (``conversation: "none"``)
    modality: Literal["text", "audio"]
    input_tokens: list[tuple[int, int]]
    max_output_tokens: int | Literal["inf"] = "inf"
    output_format: dict[str, Any] = field(default_factory=lambda: {"type": "audio/pcm", "rate": 24000})
    voice: str | dict[str, Any] = "alloy"
    speed: float = 1.0
    metadata: dict[str, Any] | None = None
    id: str = field(default_factory=lambda: new_id("resp"))


@dataclass
class _Item:
    item: dict[str, Any]
    index: int
    text: str = ""
    pending: str = ""  # transcript not yet spoken
    audio: bytearray = field(default_factory=bytearray)
    voice: ItemVoice | None = None  # how a spoken item is spoken (its transport's way)


class ResponseRun:
    """Runs one response; :meth:`cancel` ends it with ``status: "cancelled"``."""

    def __init__(
        self,
        plan: ResponsePlan,
        *,
        responder: Responder,
        emit: Emit,
        rate_window: RateWindow,
        synthesizer: SpeechSynthesizer | None = None,
        output: AudioOut | None = None,
        prepare: Prepare | None = None,
    ) -> None:
        self.plan = plan
        self.id = plan.id
        self._responder = responder
        self._emit = emit
        self._rates = rate_window
        self._synth = synthesizer
        self._out = output if output is not None else _websocket_out(emit)
        self._prepare = prepare
        self._cancel = asyncio.Event()
        self._cancel_reason = "client_cancelled"
        self._hold: asyncio.Event | None = None
        self._output: list[dict[str, Any]] = []
        self._open: _Item | None = None
        self._out_text = ""
        self._out_audio_ms = 0
        self._over_budget = False
        self.played_audio = False  # True once audio went to the transport
        self.finished = asyncio.Event()  # set once response.done was sent (or the run was torn down)

    @property
    def audio_item_ids(self) -> list[str]:
        """The ids of the spoken items of this response so far."""
        if self.plan.modality != "audio":
            return []
        return [str(item["id"]) for item in self._output if item["type"] == "message"]

    @property
    def produced_audio(self) -> bool:
        """True once any assistant audio was synthesized (the session's voice is then fixed)."""
        return self._out_audio_ms > 0

    def cancel(self, reason: str = "client_cancelled") -> None:
        """Stop producing; the run closes its open item and sends ``response.done`` (cancelled)."""
        self._cancel_reason = reason
        self._cancel.set()

    def hold_cancel(self, reason: str) -> None:
        """Cancel now but send the closing events only after :meth:`release` (a barge-in: the session's
        own events, ``speech_started`` and ``cleared``, go first)."""
        self._hold = asyncio.Event()
        self.cancel(reason)

    def release(self) -> None:
        """Let a held run send its closing events."""
        if self._hold is not None:
            self._hold.set()

    def _response(
        self, status: str, details: dict[str, Any] | None, used: dict[str, Any] | None
    ) -> dict[str, Any]:
        conv = self.plan.conversation
        return {
            "object": "realtime.response",
            "id": self.id,
            "status": status,
            "status_details": details,
            "output": [public_item(i) for i in self._output],
            "conversation_id": conv.id if conv is not None else None,
            "output_modalities": [self.plan.modality],
            "max_output_tokens": self.plan.max_output_tokens,
            "audio": {"output": {"format": self.plan.output_format, "voice": self.plan.voice}},
            "usage": used,
            "metadata": self.plan.metadata,
        }

    async def run(self) -> None:
        """Emit the whole sequence. Session shutdown cancels this task and no closing events are sent."""
        try:
            await self._run()
        finally:
            open_item = self._open
            if open_item is not None and open_item.voice is not None:
                await open_item.voice.close(completed=False)  # torn down mid-item: its tasks go too
            self.finished.set()

    async def _run(self) -> None:
        await self._emit(server_event("response.created", response=self._response("in_progress", None, None)))
        produce = asyncio.create_task(self._produce())
        cancelled = asyncio.create_task(self._cancel.wait())
        try:
            await asyncio.wait({produce, cancelled}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (produce, cancelled):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        if self._hold is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._hold.wait(), HOLD_LIMIT_S)
        status: str = "completed"
        details: dict[str, Any] | None = None
        # A cancel that landed as the last words went out still wins: the caller asked to stop (or was
        # interrupted, which also cut off the audio the producer was finishing).
        if produce.cancelled() or self._cancel.is_set():
            status, details = "cancelled", {"type": "cancelled", "reason": self._cancel_reason}
        elif (error := produce.exception()) is not None:
            status, details = "failed", {"type": "failed", "error": _failure(error)}
        elif self._over_budget:
            status, details = "incomplete", {"type": "incomplete", "reason": "max_output_tokens"}
        if status in ("cancelled", "failed"):
            self._out.drop_pending(self.id)  # what has started plays out; the rest is never heard
        await self._close_item("completed" if status == "completed" else "incomplete")
        used = usage(
            instructions=self.plan.request.instructions,
            inputs=self.plan.input_tokens,
            output_text=self._out_text,
            output_audio_ms=self._out_audio_ms,
        )
        await self._emit(server_event("response.done", response=self._response(status, details, used)))
        remaining, reset = self._rates.spend(used["total_tokens"])
        await self._emit(rate_limits_updated(self._rates.limit, remaining, reset))

    async def _produce(self) -> None:
        budget = self.plan.max_output_tokens
        request = self.plan.request
        if self._prepare is not None:
            request = await self._prepare(request)
        async for event in self._responder.respond(request):
            if isinstance(event, TextDelta):
                if self._open is None or self._open.item["type"] != "message":
                    await self._close_item("completed")
                    await self._open_message()
                await self._text(event.text)
            elif isinstance(event, FunctionCall):
                await self._close_item("completed")
                await self._function_call(event)
            spent = count_text_tokens(self._out_text) + self._out_audio_ms // 50
            # The engine's ceiling (max_output_chars) cut the reply: as OpenAI reports a reply stopped by
            # max_output_tokens, whichever limit was reached.
            if isinstance(event, CutDelta) or (budget != "inf" and spent >= budget):
                self._over_budget = True
                break
        await self._settle_open()

    async def _settle_open(self) -> None:
        """The end of the stream: speak what is left of the open item and let its captions catch up.

        The item itself stays open: :meth:`_run` closes it once the response's status is known, so a
        cancel that lands now still leaves it ``incomplete``, as every cancelled response's item is.
        """
        entry = self._open
        if entry is None or entry.item["type"] != "message" or self.plan.modality != "audio":
            return
        if entry.pending:
            pending, entry.pending = entry.pending, ""
            await self._speak(entry, pending)
        if entry.voice is not None:
            await entry.voice.close(completed=True)

    def _ids(self, entry: _Item) -> dict[str, Any]:
        return {"response_id": self.id, "item_id": entry.item["id"], "output_index": entry.index}

    async def _add_item(self, item: dict[str, Any]) -> _Item:
        entry = _Item(item=item, index=len(self._output))
        self._output.append(item)
        self._open = entry
        await self._emit(
            server_event(
                "response.output_item.added", response_id=self.id, output_index=entry.index, item=dict(item)
            )
        )
        conv = self.plan.conversation
        if conv is not None:
            previous = conv.insert(item)
            await self._emit(item_event("conversation.item.added", item, previous))
        return entry

    async def _open_message(self) -> None:
        item = {
            "id": new_id("item"),
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        entry = await self._add_item(item)
        part = (
            {"type": "text", "text": ""}
            if self.plan.modality == "text"
            else {"type": "audio", "transcript": ""}
        )
        if self.plan.modality == "audio":
            ids = {**self._ids(entry), "content_index": 0}
            entry.voice = self._out.voice(ids, synthesizing=self._synth is not None)
        await self._emit(
            server_event("response.content_part.added", **self._ids(entry), content_index=0, part=part)
        )

    async def _text(self, text: str) -> None:
        entry = self._open
        assert entry is not None
        entry.text += text
        self._out_text += text
        ids = {**self._ids(entry), "content_index": 0}
        if self.plan.modality == "text":
            await self._emit(server_event("response.output_text.delta", **ids, delta=text))
            return
        assert entry.voice is not None
        await entry.voice.text(text)
        entry.pending += text
        # Speak each sentence as soon as it is complete, so audio starts before the reply is finished.
        ends = [match.end() for match in _SENTENCE_END.finditer(entry.pending)]
        if ends:
            sentence, entry.pending = entry.pending[: ends[-1]], entry.pending[ends[-1] :]
            await self._speak(entry, sentence)

    async def _speak(self, entry: _Item, text: str) -> None:
        """Speak one sentence of ``entry`` the transport's way (deltas, or paced playback with captions)."""
        assert entry.voice is not None
        words = text.strip()
        speech = (
            self._synth.synthesize(words, voice=self._voice(), speed=self.plan.speed)
            if self._synth is not None and words
            else None
        )

        def keep(chunk: bytes) -> None:
            entry.audio += chunk
            self._out_audio_ms = len(entry.audio) // PCM16_24K_BYTES_PER_MS
            self.played_audio = True

        await entry.voice.sentence(text, speech, keep)

    def _voice(self) -> str:
        return self.plan.voice if isinstance(self.plan.voice, str) else str(self.plan.voice.get("id"))

    async def _function_call(self, call: FunctionCall) -> None:
        call_id = call.call_id or new_id("call")
        item = {
            "id": new_id("item"),
            "type": "function_call",
            "status": "in_progress",
            "name": call.name,
            "call_id": call_id,
            "arguments": "",
        }
        entry = await self._add_item(item)
        ids = {**self._ids(entry), "call_id": call_id}
        await self._emit(server_event("response.function_call_arguments.delta", **ids, delta=call.arguments))
        await self._emit(
            server_event(
                "response.function_call_arguments.done", **ids, name=call.name, arguments=call.arguments
            )
        )
        item["arguments"] = call.arguments
        self._out_text += call.name + call.arguments

    async def _close_item(self, status: str) -> None:
        """Finish the open item (if any): its done events, in the order of reference §4.4."""
        entry = self._open
        if entry is None:
            return
        audio = entry.item["type"] == "message" and self.plan.modality == "audio"
        if audio and status == "completed" and entry.pending:
            pending, entry.pending = entry.pending, ""
            await self._speak(entry, pending)
        if audio and entry.voice is not None:
            # The slow part (over WebRTC the last sentence has to start playing) comes before the item is
            # let go, so a cancel landing meanwhile still finds it open and closes it.
            await entry.voice.close(completed=status == "completed")
        self._open = None
        item = entry.item
        if item["type"] == "message":
            ids = {**self._ids(entry), "content_index": 0}
            if self.plan.modality == "text":
                await self._emit(server_event("response.output_text.done", **ids, text=entry.text))
                part = {"type": "text", "text": entry.text}
                item["content"] = [{"type": "output_text", "text": entry.text}]
            else:
                transcript = entry.voice.transcript(entry.text) if entry.voice is not None else entry.text
                await self._emit(server_event("response.output_audio.done", **ids))
                await self._emit(
                    server_event("response.output_audio_transcript.done", **ids, transcript=transcript)
                )
                part = {"type": "audio", "transcript": transcript}
                item["content"] = [{"type": "output_audio", "transcript": transcript}]
            await self._emit(server_event("response.content_part.done", **ids, part=part))
        item["status"] = status
        await self._emit(
            server_event(
                "response.output_item.done", response_id=self.id, output_index=entry.index, item=dict(item)
            )
        )
        conv = self.plan.conversation
        # The client may have deleted the item meanwhile; then there is nothing left to finish.
        if conv is not None and item["id"] in conv:
            conv.replace(item)
            if entry.audio:
                conv.set_audio(item["id"], bytes(entry.audio))
            await self._emit(item_event("conversation.item.done", item, conv.previous_id(item["id"])))


def _failure(error: BaseException) -> dict[str, Any]:
    """``status_details.error`` of a failed response: our errors as they are, anything else as a bug."""
    if isinstance(error, VoxgateError):
        return {"type": error.error_type, "code": error.code, "message": error.message}
    log.error("responder failed", exc_info=error)
    return {"type": "server_error", "code": "responder_error", "message": "The response failed."}


def _websocket_out(emit: Emit) -> AudioOut:
    """The default output of a run built on its own (tests, tools): WebSocket-style deltas."""
    out = DeltaAudioOut()
    out.attach(emit)
    return out
