"""The engine's side of a WebRTC call before the offer: the peer connection and its audio transceiver.

Answering an offer used to start with making these and end with gathering ICE candidates (binding a
UDP socket per network address), about 2 ms of a 4.4 ms answer on this machine, every call, while the
caller waits. :class:`SparePeers` keeps one peer made and gathered ahead of the next offer, so an answer
only applies the offer and writes the SDP. ``bench/bench_console.py`` measures the whole connect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCRtpSender
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtcrtpreceiver import RTCRtpReceiver

from voxgate.engine.config import IceServer
from voxgate.engine.playback import PlaybackTrack

__all__ = ["Peer", "SparePeers"]

log = logging.getLogger(__name__)
# The codecs OpenAI answers with (reference §2.1): Opus 48 kHz first, then G.711.
CODECS = ("audio/opus", "audio/pcmu", "audio/pcma")
# A spare's candidates are its machine's addresses when it was made; networks change, so not forever.
SPARE_MAX_AGE_S = 300.0
# A new spare is made this long after one is taken: not while the call that took it is connecting.
REFILL_DELAY_S = 0.2


class Peer:
    """An ``RTCPeerConnection`` for one call, with the audio transceiver an offer's audio will match.

    Without ``audio`` (for offers with no audio section) it has no transceiver: aiortc would otherwise
    answer with an audio section nobody offered.
    """

    def __init__(self, ice_servers: tuple[IceServer, ...], *, audio: bool) -> None:
        servers = [
            RTCIceServer(urls=s.urls, username=s.username, credential=s.credential) for s in ice_servers
        ]
        # Always explicit: left empty, aiortc would reach for a public STUN server.
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=servers))
        self.track: PlaybackTrack | None = None
        if audio:
            # Codecs are negotiated inside setRemoteDescription, so the transceiver and its preferences
            # must exist before it; aiortc then matches the offered audio section to this transceiver.
            self.track = PlaybackTrack()
            transceiver = self.pc.addTransceiver(self.track, direction="sendrecv")
            _shorten_jitter_buffer(transceiver.receiver)
            codecs = RTCRtpSender.getCapabilities("audio").codecs
            transceiver.setCodecPreferences([c for m in CODECS for c in codecs if c.mimeType.lower() == m])

    async def gather(self) -> None:
        """Gather the ICE candidates now; ``setLocalDescription`` then finds them ready.

        An offer that bundles on its data channel's section gets a new transport, gathered as usual.
        """
        for transceiver in self.pc.getTransceivers():
            await transceiver.receiver.transport.transport.iceGatherer.gather()

    async def close(self) -> None:
        """Close the peer connection and stop the track."""
        if self.track is not None:
            self.track.stop()
        await self.pc.close()


class SparePeers:
    """Keeps one gathered :class:`Peer` with audio ready for the next offer; its owner calls
    :meth:`aclose`."""

    def __init__(
        self,
        ice_servers: tuple[IceServer, ...],
        *,
        max_age_s: float = SPARE_MAX_AGE_S,
        refill_delay_s: float = REFILL_DELAY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ice_servers = ice_servers
        self._max_age = max_age_s
        self._refill_delay = refill_delay_s
        self._clock = clock
        self._spare: Peer | None = None
        self._spare_made = 0.0
        self._taken = asyncio.Event()
        self._keeper: asyncio.Task[None] | None = None
        self._closed = False
        self.hits = 0  # offers answered on a spare (for tests and logs)

    @property
    def ready(self) -> bool:
        """True while a spare is waiting for an offer."""
        return self._spare is not None

    def start(self) -> None:
        """Begin making spares now rather than at the first offer (needs a running event loop)."""
        self._ensure_keeper()

    def take(self, *, audio: bool) -> Peer:
        """A peer for an offer: the spare if it is ready and fresh (and ``audio``), else a new one."""
        self._ensure_keeper()
        spare = self._spare
        fresh = spare is not None and self._clock() - self._spare_made < self._max_age
        if audio and fresh and spare is not None:
            self._spare = None
            self._taken.set()
            self.hits += 1
            return spare
        return Peer(self._ice_servers, audio=audio)

    def _ensure_keeper(self) -> None:
        if self._keeper is None and not self._closed:
            self._keeper = asyncio.ensure_future(self._keep())

    async def _keep(self) -> None:
        """Make a spare, and a new one after each is taken or grows old."""
        while True:
            peer = Peer(self._ice_servers, audio=True)
            try:
                await peer.gather()
            except asyncio.CancelledError:
                await peer.close()
                raise
            except Exception:  # e.g. no usable address right now: answers make their own peers
                log.warning("could not prepare a spare peer connection", exc_info=True)
                await peer.close()
                await asyncio.sleep(self._max_age)
                continue
            self._spare, self._spare_made = peer, self._clock()
            self._taken.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._max_age):
                    await self._taken.wait()
            if self._spare is peer:  # grew old untaken
                self._spare = None
                await peer.close()
            await asyncio.sleep(self._refill_delay)

    async def aclose(self) -> None:
        """Stop making spares and close the one held."""
        self._closed = True
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
        if self._spare is not None:
            await self._spare.close()
            self._spare = None


def _shorten_jitter_buffer(receiver: RTCRtpReceiver) -> None:
    """Decode the caller's audio after one packet of reordering room instead of aiortc's four.

    aiortc holds 4 packets (80 ms) of received audio before decoding, which would add 80 ms to every
    end of turn and every barge-in. One packet still puts a pair of swapped packets back in order. The
    buffer is private to aiortc, so this checks what it replaces and otherwise leaves aiortc alone.
    """
    attribute = "_RTCRtpReceiver__jitter_buffer"
    if isinstance(getattr(receiver, attribute, None), JitterBuffer):
        setattr(receiver, attribute, JitterBuffer(capacity=16, prefetch=1))
