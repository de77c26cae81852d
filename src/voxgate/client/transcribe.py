"""Transcribe audio over a live call: the protocol steps behind ``voxgate transcribe``.

1. Wait for ``session.created``; send ``session.update`` turning on ``audio.input.transcription`` and,
   by default, server VAD with ``create_response: false`` (turns are committed, nobody answers).
2. Play the audio as the microphone, then a little silence so the turn detector can end the last turn.
3. If no turn is pending a commit by then (turn detection off, no ``speech_started`` at all, or a turn
   still open), send ``input_audio_buffer.commit`` ourselves.
4. Collect ``conversation.item.input_audio_transcription.completed`` (or ``.failed``) for every
   committed item, in commit order.

Works against any GA server: OpenAI, a voxgate gateway's calls URL, or the local engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voxgate.client.connection import RealtimeClient
from voxgate.client.errors import ConnectionClosed, RealtimeClientError

__all__ = ["DEFAULT_TRANSCRIPTION_MODEL", "TranscriptionFailed", "transcribe_file", "transcription_update"]

DEFAULT_TRANSCRIPTION_MODEL = "gpt-4o-mini-transcribe"
_COMMIT_EVENT_ID = "event_voxgate_final_commit"
EventHook = Callable[[dict[str, Any]], None]


class TranscriptionFailed(RealtimeClientError):
    """No transcript came back (the server refused the update, failed, or never transcribed)."""


def transcription_update(
    session_type: str,
    *,
    model: str = DEFAULT_TRANSCRIPTION_MODEL,
    language: str | None = None,
    turn_detection: bool = True,
) -> dict[str, Any]:
    """The ``session.update`` event that turns input transcription on for a session of ``session_type``."""
    transcription: dict[str, Any] = {"model": model}
    if language:
        transcription["language"] = language
    turns: dict[str, Any] | None = None
    if turn_detection:
        turns = {"type": "server_vad"}
        if session_type == "realtime":  # transcription sessions never respond, and lack these keys
            turns.update(create_response=False, interrupt_response=False)
    audio_input = {"transcription": transcription, "turn_detection": turns}
    return {"type": "session.update", "session": {"type": session_type, "audio": {"input": audio_input}}}


@dataclass
class _Progress:
    """What the server has told us about turns and transcripts so far."""

    turn_open: bool = False
    committed: list[str] = field(default_factory=list)
    transcripts: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    commit_pending: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def outstanding(self) -> list[str]:
        return [i for i in self.committed if i not in self.transcripts and i not in self.failures]


def _error_text(event: dict[str, Any]) -> str:
    error = event.get("error") or {}
    code = f" ({error['code']})" if error.get("code") else ""
    return f"{error.get('message') or 'error'}{code}"


async def _next(client: RealtimeClient, types: set[str], on_event: EventHook | None) -> dict[str, Any]:
    while True:
        try:
            event = await client.receive()
        except ConnectionClosed:
            raise TranscriptionFailed("the call ended before the session was ready") from None
        if on_event is not None:
            on_event(event)
        if event["type"] in types:
            return event


async def _follow(
    client: RealtimeClient,
    progress: _Progress,
    on_event: EventHook | None,
    on_transcript: Callable[[str], None] | None,
) -> None:
    try:
        while True:
            event = await client.receive()
            if on_event is not None:
                on_event(event)
            _track(progress, event, on_transcript)
    except ConnectionClosed:
        pass
    finally:
        progress.changed.set()  # wake the waiter, which then sees the follower has ended


def _track(progress: _Progress, event: dict[str, Any], on_transcript: Callable[[str], None] | None) -> None:
    """Update ``progress`` from one server event."""
    kind = event["type"]
    if kind == "input_audio_buffer.speech_started":
        progress.turn_open = True
    elif kind == "input_audio_buffer.speech_stopped":
        progress.turn_open = False
    elif kind == "input_audio_buffer.committed":
        progress.committed.append(event["item_id"])
        progress.commit_pending = False
    elif kind == "conversation.item.input_audio_transcription.completed":
        progress.transcripts[event["item_id"]] = event["transcript"]
        if on_transcript is not None:
            on_transcript(event["transcript"])
    elif kind == "conversation.item.input_audio_transcription.failed":
        progress.failures[event["item_id"]] = _error_text(event)
    elif kind == "error":
        if (event.get("error") or {}).get("event_id") == _COMMIT_EVENT_ID:
            progress.commit_pending = False  # nothing left to commit: fine
        else:
            progress.errors.append(_error_text(event))
    progress.changed.set()


async def transcribe_file(
    client: RealtimeClient,
    audio: str | Path,
    *,
    model: str = DEFAULT_TRANSCRIPTION_MODEL,
    language: str | None = None,
    turn_detection: bool = True,
    tail_s: float = 1.0,
    wait_s: float = 30.0,
    on_transcript: Callable[[str], None] | None = None,
    on_event: EventHook | None = None,
) -> list[str]:
    """Play the WAV file ``audio`` into a connected call and return the input transcripts in order.

    ``tail_s`` of silence follow the file; then transcripts are awaited for up to ``wait_s`` seconds.
    ``on_transcript`` sees each transcript as it arrives, ``on_event`` every server event. Raises
    :class:`TranscriptionFailed` when nothing was transcribed.
    """
    try:
        async with asyncio.timeout(wait_s):
            created = await _next(client, {"session.created"}, on_event)
            update = transcription_update(
                created["session"]["type"], model=model, language=language, turn_detection=turn_detection
            )
            client.send(update)
            reply = await _next(client, {"session.updated", "error"}, on_event)
    except TimeoutError:
        raise TranscriptionFailed(f"the session was not ready within {wait_s:g} s") from None
    if reply["type"] == "error":
        raise TranscriptionFailed(f"the server refused the session update: {_error_text(reply)}")
    detecting = reply["session"]["audio"]["input"].get("turn_detection") is not None

    progress = _Progress()
    follower = asyncio.ensure_future(_follow(client, progress, on_event, on_transcript))
    try:
        client.microphone.play_wav(audio)
        await client.microphone.wait_played()
        await asyncio.sleep(tail_s)  # the microphone idles: silence
        if not detecting or progress.turn_open or not progress.committed:
            progress.commit_pending = True
            client.send({"type": "input_audio_buffer.commit", "event_id": _COMMIT_EVENT_ID})
        try:
            async with asyncio.timeout(wait_s):
                while progress.commit_pending or progress.outstanding():
                    if follower.done():
                        break
                    progress.changed.clear()
                    await progress.changed.wait()
        except TimeoutError:
            pass
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)

    texts = [progress.transcripts[i] for i in progress.committed if i in progress.transcripts]
    if texts:
        return texts
    reasons = list(progress.failures.values()) + progress.errors
    if reasons:
        raise TranscriptionFailed("no transcript: " + "; ".join(reasons))
    if progress.committed:
        raise TranscriptionFailed(
            f"no transcript within {wait_s:g} s for {len(progress.committed)} committed turn(s): "
            "does the server transcribe input audio?"
        )
    raise TranscriptionFailed("no audio was committed")
