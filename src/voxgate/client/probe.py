"""The synthetic probe: a real call that speaks known sentences and measures what came back.

1. Render :data:`~voxgate.core.probe.PROBE_SENTENCES` with the engine's speech stack (espeak-ng or
   piper), before anything is timed.
2. Connect (the connect time is :class:`~voxgate.client.ConnectTimings`' total), turn on input
   transcription and server VAD *with* responses, so the assistant answers each sentence.
3. For each sentence: play it as the microphone, then time from its last sample to the first audible
   frame of the reply (time to first audio, as a listener hears it: VAD's silence wait included); then
   cut the reply short (``response.cancel``, ``output_audio_buffer.clear``): the rest of it measures
   nothing, and the next sentence must not barge into it.
4. Collect every turn's input transcript and score the word error rate against the sentences.

Works against any GA server: OpenAI (it costs a little), a gateway's calls URL or the local engine.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voxgate.client.connection import RealtimeClient
from voxgate.client.errors import ConnectionClosed, RealtimeClientError
from voxgate.core.probe import PROBE_SENTENCES, ProbeResult, ProbeTarget
from voxgate.engine.speech.base import SpeechSynthesizer
from voxgate.engine.speech.wer import word_error_rate

__all__ = ["AUDIBLE_RMS", "SpokenProbe", "probe_update", "render_sentences", "run_probe"]

#: A reply frame louder than this (PCM16 RMS) is audio, not the comfort silence between replies.
AUDIBLE_RMS = 300.0
# Silence between sentences, so the server's VAD closes one turn before the next starts.
_GAP_S = 0.5


def probe_update(*, model: str, language: str | None) -> dict[str, Any]:
    """The ``session.update`` for a probe: input transcription on, server VAD that answers each turn."""
    transcription: dict[str, Any] = {"model": model}
    if language:
        transcription["language"] = language
    turns = {"type": "server_vad", "create_response": True, "interrupt_response": False}
    audio_input = {"transcription": transcription, "turn_detection": turns}
    return {"type": "session.update", "session": {"type": "realtime", "audio": {"input": audio_input}}}


async def render_sentences(synthesizer: SpeechSynthesizer, sentences: Sequence[str]) -> list[bytes]:
    """Each sentence as 24 kHz PCM16."""
    return [b"".join([chunk async for chunk in synthesizer.synthesize(text)]) for text in sentences]


@dataclass
class _Heard:
    """What the server told the probe: turns committed, their transcripts, responses finished."""

    committed: list[str] = field(default_factory=list)
    transcripts: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    responses_done: int = 0
    response_live: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def note(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "input_audio_buffer.committed":
            self.committed.append(str(event.get("item_id")))
        elif kind == "conversation.item.input_audio_transcription.completed":
            self.transcripts[str(event.get("item_id"))] = str(event.get("transcript") or "")
        elif kind == "conversation.item.input_audio_transcription.failed":
            self.transcripts[str(event.get("item_id"))] = ""
        elif kind == "response.created":
            self.response_live = True
        elif kind == "response.done":
            self.responses_done += 1
            self.response_live = False
        elif kind == "error":
            self.errors.append(str((event.get("error") or {}).get("message") or "error"))
        self.changed.set()

    async def until(self, check: Any, within_s: float) -> bool:
        try:
            async with asyncio.timeout(within_s):
                while not check():
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            return False
        return True


async def _follow(client: RealtimeClient, heard: _Heard) -> None:
    try:
        while True:
            heard.note(await client.receive())
    except ConnectionClosed:
        heard.changed.set()


async def _first_audible(client: RealtimeClient, since: float, within_s: float) -> float | None:
    """Milliseconds from ``since`` to the first audible reply frame (None if none came in time)."""
    try:
        async with asyncio.timeout(within_s):
            while True:
                chunk = await client.remote_audio.read()
                if not chunk:
                    return None
                samples = np.frombuffer(chunk, dtype=np.int16).astype(np.float32)
                if samples.size and float(np.sqrt(np.mean(samples * samples))) > AUDIBLE_RMS:
                    return (time.perf_counter() - since) * 1000
    except TimeoutError:
        return None


async def _ready(client: RealtimeClient, update: dict[str, Any], within_s: float) -> None:
    async with asyncio.timeout(within_s):
        while (await client.receive()).get("type") != "session.created":
            pass
        client.send(update)
        while True:
            event = await client.receive()
            if event.get("type") == "session.updated":
                return
            if event.get("type") == "error":
                message = (event.get("error") or {}).get("message")
                raise RealtimeClientError(f"the session update was refused: {message}")


async def run_probe(
    client: RealtimeClient,
    audio: Sequence[bytes],
    *,
    target: str,
    sentences: Sequence[str] = PROBE_SENTENCES,
    transcription_model: str = "gpt-realtime-whisper",
    language: str | None = "en",
    wait_s: float = 20.0,
) -> ProbeResult:
    """Run the probe on an unconnected ``client`` with each sentence's ``audio`` (24 kHz PCM16); the
    client is hung up at the end. Failures become a result with their ``outcome``, never an exception."""
    expected = " ".join(sentences)
    try:
        await client.connect()
    except RealtimeClientError as exc:
        return ProbeResult(target, "connect_failed", expected, error=str(exc)[:300])
    connect_ms = client.timings.total_ms if client.timings else None
    heard = _Heard()
    follower: asyncio.Task[None] | None = None
    first_audio: list[float] = []
    try:
        await _ready(client, probe_update(model=transcription_model, language=language), wait_s)
        follower = asyncio.create_task(_follow(client, heard))
        for index, pcm in enumerate(audio):
            client.microphone.play_pcm(pcm)
            await client.microphone.wait_played()
            spoke = time.perf_counter()
            client.remote_audio.take()  # what played before is not this reply
            waited = await _first_audible(client, spoke, wait_s)
            if waited is not None:
                first_audio.append(waited)
            await heard.until(lambda n=index + 1: heard.responses_done >= n or heard.response_live, wait_s)
            if heard.response_live:
                client.send({"type": "response.cancel"})
            client.send({"type": "output_audio_buffer.clear"})
            await heard.until(lambda n=index + 1: heard.responses_done >= n, wait_s)
            await asyncio.sleep(_GAP_S)
        await heard.until(lambda: all(i in heard.transcripts for i in heard.committed), wait_s)
    except (RealtimeClientError, TimeoutError) as exc:
        return ProbeResult(target, "session_failed", expected, connect_ms=connect_ms, error=str(exc)[:300])
    finally:
        if follower is not None:
            follower.cancel()
            await asyncio.gather(follower, return_exceptions=True)
        await client.hangup()
    said = " ".join(heard.transcripts[i] for i in heard.committed if i in heard.transcripts).strip()
    median_first = statistics.median(first_audio) if first_audio else None
    if not said:
        error = "; ".join(heard.errors) or "nothing was transcribed"
        return ProbeResult(target, "no_transcript", expected, connect_ms=connect_ms, error=error[:300])
    outcome = "ok" if median_first is not None else "no_reply_audio"
    wer = word_error_rate(expected, said)
    return ProbeResult(target, outcome, expected, said, wer, connect_ms, median_first)


class SpokenProbe:
    """A :data:`~voxgate.core.probe.ProbeRunner`: the sentences rendered once (on first use, off the
    event loop's critical path) by the synthesizer ``voice`` makes, then one :func:`run_probe` per call."""

    def __init__(
        self,
        voice: Callable[[], SpeechSynthesizer | None],
        *,
        transcription_model: str = "gpt-realtime-whisper",
        language: str | None = "en",
        connect_timeout: float = 15.0,
    ) -> None:
        self._voice = voice
        self._audio: list[bytes] | None = None
        self._model = transcription_model
        self._language = language
        self._timeout = connect_timeout

    async def __call__(self, target: ProbeTarget) -> ProbeResult:
        if self._audio is None:
            synthesizer = await asyncio.to_thread(self._voice)
            if synthesizer is None:
                raise RealtimeClientError("no speech synthesizer: install espeak-ng or voxgate[piper]")
            self._audio = await render_sentences(synthesizer, PROBE_SENTENCES)
        session: dict[str, Any] = {"type": "realtime"}
        if target.model:
            session["model"] = target.model
        client = RealtimeClient(target.calls_url, target.key, session=session, connect_timeout=self._timeout)
        return await run_probe(
            client, self._audio, target=target.label, transcription_model=self._model, language=self._language
        )
