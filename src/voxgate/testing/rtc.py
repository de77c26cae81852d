"""A WebRTC caller for tests: an aiortc offerer shaped like OpenAI's browser example, and a tone mic."""

from __future__ import annotations

import asyncio
import fractions
import json
import time
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from voxgate.testing.events import TIMEOUT, EventReader
from voxgate.testing.speech import tone

__all__ = ["RtcClient", "ToneTrack"]


class ToneTrack(MediaStreamTrack):
    """A fake microphone: 20 ms frames of a 440 Hz tone at 48 kHz, paced in real time."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._pts = 0
        self._start: float | None = None
        self._chunk = tone(20, rate=48000)

    async def recv(self) -> AudioFrame:
        """The next 20 ms frame, not before its time."""
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
    """An aiortc offerer: audio sendrecv (or ``mic``) + the ``oai-events`` data channel.

    ``events`` reads the data channel strictly (:class:`~voxgate.testing.events.EventReader`);
    ``received_audio`` collects what the server played, as 48 kHz mono PCM16.
    """

    def __init__(self, *, mic: MediaStreamTrack | None = None) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.channel = self.pc.createDataChannel("oai-events")
        self._inbox: asyncio.Queue[str] = asyncio.Queue()
        self.channel.on("message", self._inbox.put_nowait)
        self._opened = asyncio.Event()
        self.channel.on("open", self._opened.set)
        self.events = EventReader(self._inbox.get)
        self.received_audio = bytearray()
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
        """The SDP offer to post to ``/v1/realtime/calls``."""
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def connect(self, answer_sdp: str, within: float = TIMEOUT) -> None:
        """Apply the server's answer and wait until the data channel is open."""
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))
        await asyncio.wait_for(self._opened.wait(), within)

    def send(self, event: dict[str, Any] | str) -> None:
        """Send one client event on the data channel."""
        self.channel.send(event if isinstance(event, str) else json.dumps(event))

    async def close(self) -> None:
        """Stop reading audio and close the peer connection."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.pc.close()
