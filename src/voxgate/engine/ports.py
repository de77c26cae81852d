"""The seams where speech plugs into the protocol core, as small protocols.

* Output audio (the TTS seam): a session speaking over WebRTC hands 24 kHz PCM16 to an
  :class:`AudioPlayback` (the call's outgoing track, :class:`voxgate.engine.rtc.playback.PlaybackTrack`).
  Over WebSocket the same audio becomes ``response.output_audio.delta`` events instead (the choice is
  made once per session: :mod:`voxgate.engine.realtime.audio_out`).
* Input audio (the VAD/ASR seam): every chunk of user audio, whether from the WebRTC track (resampled to
  24 kHz mono PCM16) or from ``input_audio_buffer.append``, is added to the session's input buffer and
  passed to the session's :class:`InputAudioObserver`, built per session by an
  :class:`InputObserverFactory` given to the engine (generic over the session type, so these ports
  name no protocol's session and nothing here points up). A turn detector drives the session through its
  public methods (``commit_input_audio``, ``create_response``, ``stop_playback``/``interrupt``…) and
  emits events with ``emit``; every commit is reported back (``on_committed``) so the observer can
  transcribe it. :mod:`voxgate.engine.voice` is the real implementation.
"""

from __future__ import annotations

import asyncio
from typing import Protocol, TypeVar

__all__ = ["AudioPlayback", "InputAudioObserver", "InputObserverFactory"]

# The session an observer is built for (the GA session today; another protocol's session later). The
# ports name no session class, so nothing here points up at the protocol packages.
SessionT_contra = TypeVar("SessionT_contra", contravariant=True)


class AudioPlayback(Protocol):
    """Where a WebRTC session's spoken audio goes: a queue drained in real time by the outgoing track.

    Chunks carry a tag (the output item they belong to); the playback counts what it actually sent of
    each tag and tells, per chunk, when its first sample went out.
    """

    def enqueue(self, pcm16_24k: bytes, tag: str = "") -> asyncio.Future[bool]:
        """Queue mono 24 kHz PCM16 after what is already queued; the future says when it starts playing
        (True) or that it was dropped unplayed (False)."""
        ...

    def clear(self) -> bool:
        """Drop everything not yet played; True if something was dropped."""
        ...

    def drop(self, tags: set[str]) -> bool:
        """Drop the queued chunks of ``tags`` that have not started playing."""
        ...

    def played_ms(self, tag: str) -> int:
        """Milliseconds of ``tag``'s audio sent so far."""
        ...

    def is_idle(self) -> bool:
        """True when nothing is queued."""
        ...

    async def wait_idle(self) -> None:
        """Return once everything queued so far has been played."""
        ...


class InputAudioObserver(Protocol):
    """Sees every chunk of user audio of one session (the VAD/ASR stage attaches here)."""

    def on_audio(self, pcm: bytes) -> None:
        """Called synchronously for each chunk, in the session's input format (PCM16 24 kHz by default)."""
        ...

    def on_committed(self, item_id: str, audio: bytes) -> None:
        """Called synchronously when the input buffer becomes the user audio item ``item_id`` (by the
        client's ``input_audio_buffer.commit`` or by turn detection), with the committed audio."""
        ...

    async def aclose(self) -> None:
        """Release what the observer owns; called once when the session closes."""
        ...


class InputObserverFactory(Protocol[SessionT_contra]):
    """Builds the input observer of one session (``voice_observer_factory(...)`` makes one)."""

    def __call__(self, session: SessionT_contra, /) -> InputAudioObserver:
        """The observer of ``session``; the session owns it and closes it."""
        ...
