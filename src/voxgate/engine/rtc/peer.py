"""The engine's side of a WebRTC call before the offer: the peer connection and its audio transceiver.

A :class:`Peer` is what an answer starts from; the call that answers on it owns and closes it. Each
call makes its own when its offer arrives. Peers made ahead of offers would save about 1.4 ms of an
answer, but calls answered on them made a voice test flaky for reasons not yet found.
"""

from __future__ import annotations

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCRtpSender
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtcrtpreceiver import RTCRtpReceiver

from voxgate.engine.config import IceServer
from voxgate.engine.rtc.playback import PlaybackTrack

__all__ = ["Peer"]

# The codecs OpenAI answers with (reference §2.1): Opus 48 kHz first, then G.711.
CODECS = ("audio/opus", "audio/pcmu", "audio/pcma")


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

    async def close(self) -> None:
        """Close the peer connection and stop the track."""
        if self.track is not None:
            self.track.stop()
        await self.pc.close()


def _shorten_jitter_buffer(receiver: RTCRtpReceiver) -> None:
    """Decode the caller's audio after one packet of reordering room instead of aiortc's four.

    aiortc holds 4 packets (80 ms) of received audio before decoding, which would add 80 ms to every
    end of turn and every barge-in. One packet still puts a pair of swapped packets back in order. The
    buffer is private to aiortc, so this checks what it replaces and otherwise leaves aiortc alone.
    """
    attribute = "_RTCRtpReceiver__jitter_buffer"
    if isinstance(getattr(receiver, attribute, None), JitterBuffer):
        setattr(receiver, attribute, JitterBuffer(capacity=16, prefetch=1))
