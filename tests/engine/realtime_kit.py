"""Test kit for the protocol engine: strict event checks, receivers, an aiortc offerer, test speech.

Every server event a test receives goes through :func:`check_server_event`: it must validate as the
official ``RealtimeServerEvent`` union and carry no key the official models don't declare.
"""

from __future__ import annotations

import asyncio
import fractions
import json
import math
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame
from openai.types.realtime import (
    ClientSecretCreateResponse,
    RealtimeServerEvent,
    RealtimeSessionCreateResponse,
    RealtimeTranscriptionSessionCreateResponse,
)
from pydantic import TypeAdapter

from voxgate.engine.assistants.responder import ResponderEvent, ResponderRequest, TextDelta
from voxgate.protocol.strict import unknown_fields

SERVER_EVENTS: TypeAdapter[Any] = TypeAdapter(RealtimeServerEvent)
# session.created/updated type their session as the *request* model, which lacks the echo's
# object/id/expires_at; those three are checked against the response model instead.
_ECHO_KEYS = {"session.object", "session.id", "session.expires_at"}
TIMEOUT = 5.0


def check_server_event(data: dict[str, Any]) -> Any:
    """Validate one server event strictly; returns the parsed official model."""
    event = SERVER_EVENTS.validate_python(data)
    extra = set(unknown_fields(event))
    if data["type"] in ("session.created", "session.updated"):
        extra -= _ECHO_KEYS
        check_session_echo(data["session"])
    assert not extra, f"{data['type']} has keys no official model declares: {sorted(extra)}"
    assert data["event_id"].startswith("event_")
    return event


def check_session_echo(session: dict[str, Any]) -> None:
    """The full session echo validates as the official response model with no unknown key."""
    model: Any = (
        RealtimeSessionCreateResponse
        if session["type"] == "realtime"
        else RealtimeTranscriptionSessionCreateResponse
    )
    parsed = model.model_validate(session)
    assert not list(unknown_fields(parsed)), list(unknown_fields(parsed))
    assert session["id"].startswith("sess_")


def check_client_secret(data: dict[str, Any]) -> None:
    """A client-secret answer validates as ``ClientSecretCreateResponse`` with no unknown key."""
    parsed = ClientSecretCreateResponse.model_validate(data)
    assert not list(unknown_fields(parsed)), list(unknown_fields(parsed))
    assert data["value"].startswith("ek_")


class EventReader:
    """Receives and checks server events from any source that yields raw JSON text."""

    def __init__(self, source: Any) -> None:
        self._source = source  # an async callable returning str | bytes
        self.seen: list[dict[str, Any]] = []

    async def next(self, within: float = TIMEOUT) -> dict[str, Any]:
        """The next event (checked)."""
        raw = await asyncio.wait_for(self._source(), within)
        data: dict[str, Any] = json.loads(raw)
        check_server_event(data)
        self.seen.append(data)
        return data

    async def until(self, event_type: str, within: float = TIMEOUT) -> list[dict[str, Any]]:
        """Events up to and including the first of ``event_type``."""
        out = []
        deadline = time.monotonic() + within
        while True:
            event = await self.next(max(0.01, deadline - time.monotonic()))
            out.append(event)
            if event["type"] == event_type:
                return out

    async def expect(self, event_type: str, within: float = TIMEOUT) -> dict[str, Any]:
        """The next event, which must be of ``event_type``."""
        event = await self.next(within)
        assert event["type"] == event_type, event
        return event

    async def nothing(self, wait: float = 0.2) -> None:
        """Assert that no event arrives within ``wait`` seconds."""
        try:
            event = await self.next(wait)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected event {event}")


def sdk_reader(connection: Any) -> EventReader:
    """An :class:`EventReader` over an openai SDK realtime connection (raw frames, not SDK parsing)."""
    return EventReader(connection.recv_bytes)


# ---- audio for tests ---------------------------------------------------------------------------------


def tone(ms: int, hz: float = 440.0, rate: int = 24000, amplitude: int = 8000) -> bytes:
    """A sine tone as PCM16 mono."""
    n = rate * ms // 1000
    return struct.pack(f"<{n}h", *(int(amplitude * math.sin(2 * math.pi * hz * i / rate)) for i in range(n)))


def rms(pcm: bytes) -> float:
    """Root mean square of PCM16 samples."""
    count = len(pcm) // 2
    if not count:
        return 0.0
    samples = struct.unpack(f"<{count}h", pcm[: count * 2])
    return math.sqrt(sum(s * s for s in samples) / count)


class ToneSynthesizer:
    """A deterministic test synthesizer: 100 ms of tone per word, as 24 kHz PCM16, one chunk per word."""

    sample_rate = 24000
    WORD_MS = 100

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def synthesize(
        self, text: str, *, voice: str | None = None, speed: float = 1.0
    ) -> AsyncIterator[bytes]:
        self.calls.append(text)
        for _ in text.split():
            await asyncio.sleep(0)
            yield tone(self.WORD_MS)


class SlowResponder:
    """Says one word, then waits (for cancellation tests)."""

    def __init__(self) -> None:
        self.started = asyncio.Event()

    async def respond(self, request: ResponderRequest) -> AsyncIterator[ResponderEvent]:
        yield TextDelta("Thinking")
        self.started.set()
        await asyncio.sleep(3600)
        yield TextDelta(" done")


class ToneTrack(MediaStreamTrack):
    """A fake microphone: 20 ms frames of a 440 Hz tone at 48 kHz, paced in real time."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._pts = 0
        self._start: float | None = None
        self._chunk = tone(20, rate=48000)

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._pts += 960
            await asyncio.sleep(max(0.0, self._start + self._pts / 48000 - time.monotonic()))
        frame = AudioFrame(format="s16", layout="mono", samples=960)
        frame.planes[0].update(self._chunk)
        frame.sample_rate = 48000
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, 48000)
        return frame


class RtcClient:
    """An aiortc offerer shaped like OpenAI's browser example: audio sendrecv + the ``oai-events`` channel."""

    def __init__(self, *, mic: MediaStreamTrack | None = None) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.channel = self.pc.createDataChannel("oai-events")
        self._inbox: asyncio.Queue[str] = asyncio.Queue()
        self.channel.on("message", self._inbox.put_nowait)
        self._opened = asyncio.Event()
        self.channel.on("open", self._opened.set)
        self.events = EventReader(self._inbox.get)
        self.received_audio = bytearray()  # what the engine played, 48 kHz mono PCM16
        self._tasks: list[asyncio.Task[None]] = []
        if mic is not None:
            self.pc.addTrack(mic)
        else:
            self.pc.addTransceiver("audio", direction="sendrecv")
        self.pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        self._tasks.append(asyncio.ensure_future(self._read(track)))

    async def _read(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                assert isinstance(frame, AudioFrame)
                data = frame.to_ndarray()  # (1, samples*channels) interleaved s16
                self.received_audio += data[0, ::2].astype("<i2").tobytes()  # left channel
        except MediaStreamError:
            return

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def connect(self, answer_sdp: str, within: float = TIMEOUT) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))
        await asyncio.wait_for(self._opened.wait(), within)

    def send(self, event: dict[str, Any] | str) -> None:
        self.channel.send(event if isinstance(event, str) else json.dumps(event))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.pc.close()
