"""One WebRTC call: the peer connection, the ``oai-events`` data channel, the audio tracks and the session.

The call owns all of them and every task it starts; :meth:`RtcCall.close` (hangup, peer loss, session
expiry, a peer that never connects, engine shutdown) tears them down once, in reverse order of creation.
Events travel as plain JSON text on the data channel (reference §2.1); audio goes over the RTP track.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

from aiortc import RTCDataChannel, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import SessionDescription
from av import AudioFrame, AudioResampler

from voxgate.engine.ports import AudioPlayback, CallSession
from voxgate.engine.rtc.ice_pacing import prompt_ice
from voxgate.engine.rtc.offer import Offer
from voxgate.engine.rtc.peer import Peer
from voxgate.engine.tasks import TaskOwner
from voxgate.errors import InvalidRequest

__all__ = ["EVENTS_CHANNEL", "RtcCall"]

log = logging.getLogger(__name__)
EVENTS_CHANNEL = "oai-events"

# The protocol session a call carries (GA Realtime or GPT-Live): the call needs only the CallSession port.
S = TypeVar("S", bound=CallSession)


class RtcCall(Generic[S]):
    """A call answered by the engine; build it on a :class:`~voxgate.engine.rtc.peer.Peer` (which it then
    owns), :meth:`answer` the offer, later :meth:`close` it."""

    def __init__(
        self,
        call_id: str,
        peer: Peer,
        *,
        connect_timeout_s: float,
        make_session: Callable[[AudioPlayback | None], S],
        on_closed: Callable[[RtcCall[S]], None],
    ) -> None:
        self.id = call_id
        self.session: S | None = None
        self.closed = asyncio.Event()
        self._peer = peer
        self._pc = peer.pc
        self._track = peer.track
        self._make_session = make_session
        self._on_closed = on_closed
        self._connect_timeout = connect_timeout_s
        self._channel: RTCDataChannel | None = None
        self._inbox: asyncio.Queue[str | bytes] = asyncio.Queue()
        self._tasks = TaskOwner(f"call {call_id}")
        self._close_task: asyncio.Task[None] | None = None

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        self._tasks.spawn(coro, getattr(coro, "__qualname__", "a task"))

    async def answer(self, offer: Offer) -> str:
        """Apply the offer (read by :func:`~voxgate.engine.rtc.offer.read_offer`) and return the answer
        (ICE candidates included, no trickle).

        Raises :class:`InvalidRequest` for an offer aiortc still refuses; the caller then closes the call.
        """
        pc = self._pc
        pc.on("datachannel", self._on_datachannel)
        pc.on("track", self._on_track)
        pc.on("connectionstatechange", self._on_state)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer.sdp, type="offer"))
        except Exception as exc:  # aiortc raises many kinds; all mean the offer is bad
            raise InvalidRequest(
                f"Invalid SDP offer: {exc or type(exc).__name__}.", code="invalid_offer", param="sdp"
            ) from None
        # A caller that will not receive audio (its audio section is sendonly/inactive) never pulls the
        # track; the session must not wait on a playback nobody plays.
        self.session = self._make_session(self._track if offer.receives_audio else None)
        self._spawn(self._end_with_session(self.session))
        self._spawn(self._watch_connect())
        prompt_ice(pc)  # before setLocalDescription, which starts ICE
        await pc.setLocalDescription(await pc.createAnswer())
        answer = str(pc.localDescription.sdp)
        if self._track is not None and _sends_opus(answer):
            self._track.encode_opus()  # the track's own mono encoder: far cheaper than aiortc's
        return answer

    # ---- peer events -------------------------------------------------------------------------------

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if channel.label != EVENTS_CHANNEL or self._channel is not None:
            return
        self._channel = channel
        channel.on("message", self._inbox.put_nowait)
        channel.on("close", self._request_close)
        self._spawn(self._serve_channel(channel))

    async def _serve_channel(self, channel: RTCDataChannel) -> None:
        session = self.session
        assert session is not None

        async def send(text: str) -> None:
            if channel.readyState != "open":
                return
            try:
                channel.send(text)
            except ValueError:  # larger than the peer's max message size: skip it, keep the channel
                log.warning(
                    "call %s: dropped a %d-byte event too large for the data channel", self.id, len(text)
                )

        session.add_sink(send)
        await session.start()
        while True:
            # One message at a time, in arrival order, as the protocol requires.
            await session.handle_message(await self._inbox.get())

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._spawn(self._read_audio(track))

    async def _read_audio(self, track: MediaStreamTrack) -> None:
        """Deliver the caller's audio to the session as 24 kHz mono PCM16 (the VAD/ASR seam)."""
        # aiortc decodes to 48 kHz stereo whatever the mic was; the protocol's rate is 24 kHz mono.
        resampler = AudioResampler(format="s16", layout="mono", rate=24000)
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                if not isinstance(frame, AudioFrame):
                    continue
                for out in resampler.resample(frame):
                    if self.session is not None:
                        self.session.feed_input_audio(bytes(out.planes[0])[: out.samples * 2])

    def _on_state(self) -> None:
        if self._pc.connectionState in ("failed", "closed"):
            self._request_close()

    async def _end_with_session(self, session: S) -> None:
        await session.ended.wait()  # e.g. the maximum session duration was reached
        self._request_close()

    async def _watch_connect(self) -> None:
        await asyncio.sleep(self._connect_timeout)
        if self._pc.connectionState != "connected":
            log.info("call %s: peer did not connect within %ss", self.id, self._connect_timeout)
            self._request_close()

    # ---- teardown ----------------------------------------------------------------------------------

    def _request_close(self) -> None:
        """Start closing without waiting (for callbacks that cannot await)."""
        if self._close_task is None:
            self._close_task = asyncio.ensure_future(self._close())

    async def close(self) -> None:
        """Hang up: stop the session, the tracks and the peer connection. Idempotent, safe to race."""
        self._request_close()
        assert self._close_task is not None
        await asyncio.shield(self._close_task)

    async def _close(self) -> None:
        await self._tasks.aclose()
        if self.session is not None:
            await self.session.aclose()
        await self._peer.close()
        self.closed.set()
        self._on_closed(self)


def _sends_opus(answer: str) -> bool:
    """True when the answer's audio goes out as Opus: aiortc sends with the first codec it answered."""
    audio = next((m for m in SessionDescription.parse(answer).media if m.kind == "audio"), None)
    return (
        audio is not None and bool(audio.rtp.codecs) and audio.rtp.codecs[0].mimeType.lower() == "audio/opus"
    )
