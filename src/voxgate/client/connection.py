"""A WebRTC Realtime client: an aiortc offerer shaped like OpenAI's browser example.

It creates the ``oai-events`` data channel and a sendrecv audio transceiver (its :class:`Microphone`)
before the offer, posts the offer to a calls URL (:mod:`voxgate.client.signaling`), and then exchanges
JSON events on the channel while audio flows over RTP. It works against OpenAI, a voxgate gateway's
``calls_url`` and voxgate's local engine alike::

    async with RealtimeClient(calls_url, key) as client:
        client.send({"type": "response.create"})
        async for event in client.events():
            ...

The client owns its peer connection, tracks, tasks and (unless one was handed in) its HTTP client;
:meth:`RealtimeClient.aclose` releases them in reverse order and is idempotent.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx
from aiortc import RTCConfiguration, RTCDataChannel, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from voxgate.client.errors import ConnectionClosed, ConnectTimeout, RealtimeClientError
from voxgate.client.media import Microphone, RemoteAudio
from voxgate.client.signaling import hangup_call, is_ephemeral_key, post_offer

__all__ = ["EVENTS_CHANNEL", "ConnectTimings", "RealtimeClient"]

log = logging.getLogger(__name__)
EVENTS_CHANNEL = "oai-events"
_CLOSED = object()  # end-of-events marker in the inbox


@dataclass(frozen=True, slots=True)
class ConnectTimings:
    """Where the time of :meth:`RealtimeClient.connect` went, in milliseconds."""

    offer_ms: float  # createOffer + setLocalDescription (includes ICE gathering)
    post_ms: float  # the HTTP exchange with the calls URL
    open_ms: float  # answer applied → data channel open (ICE, DTLS, SCTP)
    total_ms: float


class RealtimeClient:
    """One WebRTC call to a Realtime server. See the module docstring.

    ``key`` is a standard key (the offer then goes as multipart with ``session``, and :meth:`hangup`
    can end the call server-side) or an ``ek_…`` client secret (raw SDP; the session comes from the
    key). ``ice_servers`` defaults to none at all: aiortc's implicit public STUN server is never used.
    """

    def __init__(
        self,
        calls_url: str,
        key: str,
        *,
        session: Mapping[str, Any] | None = None,
        ice_servers: Sequence[RTCIceServer | str] = (),
        microphone: Microphone | None = None,
        http: httpx.AsyncClient | None = None,
        connect_timeout: float = 15.0,
        remote_buffer_s: float = 60.0,
    ) -> None:
        if session is not None and is_ephemeral_key(key):
            raise ValueError("an ek_ key carries its own session; send session.update after connecting")
        self.calls_url = calls_url
        self.microphone = microphone or Microphone()
        self.remote_audio = RemoteAudio(remote_buffer_s)
        self.call_id: str | None = None
        self.location: str | None = None
        self.timings: ConnectTimings | None = None
        self._key = key
        self._session = dict(session) if session is not None else None
        self._ice = [s if isinstance(s, RTCIceServer) else RTCIceServer(urls=s) for s in ice_servers]
        self._http = http
        self._owns_http = http is None
        self._timeout = connect_timeout
        self._pc: RTCPeerConnection | None = None
        self._channel: RTCDataChannel | None = None
        self._inbox: asyncio.Queue[Any] = asyncio.Queue()
        self._opened = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._events_ended = False
        self._closed = False

    # ---- lifecycle ---------------------------------------------------------------------------------

    async def __aenter__(self) -> RealtimeClient:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.hangup()

    @property
    def connected(self) -> bool:
        """True while the event channel is open."""
        return self._channel is not None and self._channel.readyState == "open"

    @property
    def peer_connection(self) -> RTCPeerConnection | None:
        """The underlying aiortc peer connection (for diagnostics)."""
        return self._pc

    async def connect(self) -> None:
        """Offer, post, apply the answer and wait for the event channel to open.

        Raises :class:`~voxgate.client.errors.CallRejected` when the server refuses the offer and
        :class:`~voxgate.client.errors.ConnectTimeout` when the call does not come up; the client is
        closed in both cases.
        """
        if self._pc is not None or self._closed:
            raise RealtimeClientError("a RealtimeClient connects once; make a new one")
        started = time.perf_counter()
        pc = self._pc = RTCPeerConnection(RTCConfiguration(iceServers=self._ice))
        try:
            channel = self._channel = pc.createDataChannel(EVENTS_CHANNEL)
            channel.on("open", self._opened.set)
            channel.on("message", self._inbox.put_nowait)
            channel.on("close", self._end_events)
            pc.on("connectionstatechange", self._on_state)
            pc.on("track", self._on_track)
            pc.addTrack(self.microphone)
            await pc.setLocalDescription(await pc.createOffer())
            offered = time.perf_counter()
            if self._http is None:
                self._http = httpx.AsyncClient(timeout=self._timeout)
            answer = await post_offer(
                self._http, self.calls_url, self._key, pc.localDescription.sdp, self._session
            )
            posted = time.perf_counter()
            self.call_id, self.location = answer.call_id, answer.location
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer.sdp, type="answer"))
            try:
                await asyncio.wait_for(self._opened.wait(), self._timeout)
            except TimeoutError:
                raise ConnectTimeout(
                    f"the call did not connect within {self._timeout:g} s (ICE: {pc.iceConnectionState})"
                ) from None
        except BaseException:
            await self.aclose()
            raise
        opened = time.perf_counter()
        self.timings = ConnectTimings(
            offer_ms=(offered - started) * 1000,
            post_ms=(posted - offered) * 1000,
            open_ms=(opened - posted) * 1000,
            total_ms=(opened - started) * 1000,
        )

    async def hangup(self) -> None:
        """End the call: ``POST …/{call_id}/hangup`` when the key is a standard one, then :meth:`aclose`.

        With an ``ek_`` key there is no hangup request (it needs a standard key); closing the peer
        connection ends the call for the server too. A failed hangup request is logged, not raised.
        """
        try:
            standard = not is_ephemeral_key(self._key)
            if self.call_id and standard and self._http is not None and not self._closed:
                try:
                    await hangup_call(self._http, self.calls_url, self._key, self.call_id)
                except RealtimeClientError as exc:
                    log.warning("hangup of %s failed: %s", self.call_id, exc)
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """Close the peer connection, the tracks (the microphone too, even one handed in: a track
        belongs to one call), the client's tasks and its own HTTP client. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._end_events()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._pc is not None:
            await self._pc.close()
        self.microphone.stop()
        self.remote_audio.close()
        if self._owns_http and self._http is not None:
            await self._http.aclose()

    # ---- events ------------------------------------------------------------------------------------

    def send(self, event: Mapping[str, Any]) -> None:
        """Send one client event (a JSON object with a ``type``) on the data channel."""
        if not self.connected:
            raise ConnectionClosed("the event channel is not open")
        assert self._channel is not None
        self._channel.send(json.dumps(dict(event), separators=(",", ":")))

    async def receive(self) -> dict[str, Any]:
        """The next server event, parsed; raises :class:`ConnectionClosed` once the channel has closed.

        Bound the wait with ``asyncio.timeout`` when needed.
        """
        while True:
            message = await self._inbox.get()
            if message is _CLOSED:
                self._inbox.put_nowait(_CLOSED)  # every later call sees the end too
                raise ConnectionClosed("the event channel is closed")
            try:
                event = json.loads(message)
            except ValueError:
                log.warning("ignoring a data channel message that is not JSON: %.80r", message)
                continue
            if isinstance(event, dict):
                return event
            log.warning("ignoring a data channel message that is not a JSON object: %.80r", message)

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """Every server event in arrival order, until the call ends.

        Events are delivered once: use one consumer (this iterator or :meth:`receive`) at a time.
        """
        while True:
            try:
                yield await self.receive()
            except ConnectionClosed:
                return

    # ---- peer callbacks ----------------------------------------------------------------------------

    def _end_events(self) -> None:
        if not self._events_ended:
            self._events_ended = True
            self._inbox.put_nowait(_CLOSED)

    def _on_state(self) -> None:
        assert self._pc is not None
        if self._pc.connectionState in ("failed", "closed"):
            self._end_events()

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._spawn(self.remote_audio.consume(track))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if self._closed:
            task.cancel()
