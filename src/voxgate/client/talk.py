"""A live conversation through the sound card: the part of ``voxgate talk`` that needs a device.

The ``sounddevice`` package (PortAudio) is optional: :func:`load_sounddevice` imports it only when asked
and raises :class:`NoSoundDevice` with a clear reason when the package, PortAudio or a device is
missing. Capture runs at 48 kHz mono straight into the :class:`Microphone`; playback pulls the remote
audio at 24 kHz mono. There is no echo cancellation: use headphones.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from voxgate.client.connection import RealtimeClient
from voxgate.client.errors import ConnectionClosed, RealtimeClientError
from voxgate.client.media import MIC_RATE
from voxgate.client.transcribe import DEFAULT_TRANSCRIPTION_MODEL
from voxgate.engine.audio import PROTOCOL_RATE

__all__ = ["CAPTURE_JITTER_MS", "NoSoundDevice", "converse", "describe_event", "load_sounddevice"]

# Give the client ``Microphone(jitter_ms=CAPTURE_JITTER_MS)``: capture callbacks arrive unevenly.
CAPTURE_JITTER_MS = 60.0
_MAX_PLAYBACK_BYTES = PROTOCOL_RATE * 2 * 30  # 30 s: older audio is dropped if the device stalls


class NoSoundDevice(RealtimeClientError):
    """No sound library or no input/output device is available."""


def load_sounddevice() -> Any:
    """The ``sounddevice`` module, checked to have a default input and output device."""
    try:
        import sounddevice
    except ImportError:
        raise NoSoundDevice(
            "no sound library: `voxgate talk` needs the sounddevice package (pip install sounddevice)"
        ) from None
    except OSError as exc:  # the package is there, PortAudio is not
        raise NoSoundDevice(f"no sound library: sounddevice cannot load PortAudio ({exc})") from None
    for kind in ("input", "output"):
        try:
            sounddevice.query_devices(kind=kind)
        except Exception as exc:  # PortAudioError or ValueError: no default device of this kind
            raise NoSoundDevice(f"no sound {kind} device available ({exc})") from None
    return sounddevice


def describe_event(event: dict[str, Any]) -> str | None:
    """A line for the live transcript, or ``None`` for events not worth showing."""
    kind = event.get("type")
    if kind == "conversation.item.input_audio_transcription.completed":
        return f"you: {event['transcript'].strip()}"
    if kind == "response.output_audio_transcript.done":
        return f"assistant: {event['transcript'].strip()}"
    if kind == "response.output_text.done":
        return f"assistant: {event['text'].strip()}"
    if kind == "error":
        return f"error: {(event.get('error') or {}).get('message')}"
    return None


class _Playback:
    """A byte queue shared with the audio thread: the event loop writes, the device callback reads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data = bytearray()

    def write(self, pcm16: bytes) -> None:
        with self._lock:
            self._data += pcm16
            if len(self._data) > _MAX_PLAYBACK_BYTES:
                del self._data[: len(self._data) - _MAX_PLAYBACK_BYTES]

    def fill(self, out: Any) -> None:
        """Device callback: copy what is queued into ``out`` (a writable buffer), silence after it."""
        size = len(out)
        with self._lock:
            chunk = bytes(self._data[:size])
            del self._data[:size]
        out[:] = chunk.ljust(size, b"\0")


async def converse(
    client: RealtimeClient,
    sounddevice: Any,
    *,
    on_line: Callable[[str], None],
    language: str | None = None,
    transcription_model: str = DEFAULT_TRANSCRIPTION_MODEL,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """Converse through the default devices until the call ends or the task is cancelled (Ctrl-C).

    Turns input transcription on (``session.update``) so both sides of the conversation are printed.
    """
    loop = asyncio.get_running_loop()
    playback = _Playback()
    transcription: dict[str, Any] = {"model": transcription_model}
    if language:
        transcription["language"] = language

    def captured(indata: Any, frames: int, time_info: Any, status: Any) -> None:
        loop.call_soon_threadsafe(client.microphone.feed, bytes(indata))

    def play(outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        playback.fill(outdata)

    async def speak() -> None:
        async for chunk in client.remote_audio:
            playback.write(chunk)

    speaker = asyncio.ensure_future(speak())
    try:
        with (
            sounddevice.RawInputStream(
                samplerate=MIC_RATE, channels=1, dtype="int16", blocksize=MIC_RATE // 50, callback=captured
            ),
            sounddevice.RawOutputStream(
                samplerate=PROTOCOL_RATE,
                channels=1,
                dtype="int16",
                blocksize=PROTOCOL_RATE // 50,
                callback=play,
            ),
        ):
            await _follow(client, transcription, on_line, on_event)
    finally:
        speaker.cancel()
        await asyncio.gather(speaker, return_exceptions=True)


async def _follow(
    client: RealtimeClient,
    transcription: dict[str, Any],
    on_line: Callable[[str], None],
    on_event: Callable[[dict[str, Any]], None] | None,
) -> None:
    """Print the conversation until the call ends; turn transcription on once the session exists."""
    while True:
        try:
            event = await client.receive()
        except ConnectionClosed:
            return
        if on_event is not None:
            on_event(event)
        if event.get("type") == "session.created":
            audio_input = {"transcription": transcription}
            session = {"type": event["session"]["type"], "audio": {"input": audio_input}}
            client.send({"type": "session.update", "session": session})
        line = describe_event(event)
        if line:
            on_line(line)
