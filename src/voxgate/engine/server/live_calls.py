"""The engine's GPT-Live sessions: WebRTC calls answered from ``POST /v1/live/sessions`` and primary
WebSocket sessions, under the same keys and caps as the realtime ones.

A WebRTC session is an :class:`~voxgate.engine.rtc.rtc_call.RtcCall` carrying a
:class:`~voxgate.engine.live.live_session.LiveSession` (its id is the session's ``live_…`` id); a
WebSocket session is tracked from its ``session.start`` until its socket closes. Either can be watched
through ``/v1/live/sessions/{id}/attach``. The :class:`~voxgate.engine.server.engine.Engine` owns this
registry and closes it with itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

from voxgate.engine.config import EngineConfig
from voxgate.engine.ids import new_id
from voxgate.engine.live.live_session import LiveSession
from voxgate.engine.live.settings import LiveSettings
from voxgate.engine.ports import AudioPlayback, InputObserverFactory, Responder, VoiceSession
from voxgate.engine.rtc.offer import read_offer
from voxgate.engine.rtc.peer import Peer
from voxgate.engine.rtc.rtc_call import RtcCall
from voxgate.engine.server.caps import Capacity
from voxgate.engine.server.keys import Credential
from voxgate.engine.server.live_audio import codec_for
from voxgate.engine.speech.base import SpeechSynthesizer
from voxgate.errors import NotFound

__all__ = ["LiveHost", "LiveSessions"]


class LiveHost(Protocol):
    """What the registry uses of the engine (so the engine module and this one do not import each other)."""

    config: EngineConfig
    capacity: Capacity
    responder: Responder
    synthesizer: SpeechSynthesizer | None

    @property
    def observer_factory(self) -> InputObserverFactory[VoiceSession] | None:
        """The voice pipeline, read per session (tests swap it)."""
        ...

    def cap_key(self, credential: Credential | None, end_user: str | None = None) -> str | None:
        """Whose share a call or session uses."""
        ...


def _not_found(session_id: str) -> NotFound:
    return NotFound(f"Session '{session_id}' not found.", code="session_not_found", param="session_id")


class LiveSessions:
    """Live sessions by id; closed with the engine."""

    def __init__(self, host: LiveHost, *, clock: Callable[[], float] = time.time) -> None:
        self._host = host
        self._clock = clock
        self._calls: dict[str, RtcCall[LiveSession]] = {}
        self._sockets: dict[str, LiveSession] = {}

    def new_session(
        self, settings: LiveSettings, playback: AudioPlayback | None = None, *, session_id: str | None = None
    ) -> LiveSession:
        """A session wired to the engine's responder, synthesizer and voice pipeline."""
        host = self._host
        return LiveSession(
            session_id=session_id or new_id("live", 16),
            settings=settings,
            config=host.config,
            responder=host.responder,
            synthesizer=host.synthesizer,
            playback=playback,
            observer_factory=host.observer_factory,
            codec=codec_for(settings.audio_format),
            clock=self._clock,
        )

    async def create_call(
        self, offer_sdp: str, settings: LiveSettings, *, opener: Credential, end_user: str | None
    ) -> tuple[str, str]:
        """Answer a WebRTC offer with a new session; returns ``(session_id, answer_sdp)``.

        Refused like a realtime call: 400 ``invalid_offer``, 429 ``too_many_calls``, 503 at capacity."""
        offer = read_offer(offer_sdp)
        cap = self._host.cap_key(opener, end_user)
        self._host.capacity.check("call", cap)
        session_id = new_id("live", 16)
        call: RtcCall[LiveSession] = RtcCall(
            session_id,
            Peer(self._host.config.ice_servers, audio=offer.audio),
            connect_timeout_s=self._host.config.call_connect_timeout_s,
            make_session=lambda playback: self.new_session(settings, playback, session_id=session_id),
            on_closed=self._forget_call,
        )
        self._host.capacity.admit("call", call.id, cap)
        self._calls[call.id] = call
        try:
            answer = await call.answer(offer)
        except BaseException:
            await call.close()
            raise
        return call.id, answer

    def _forget_call(self, call: RtcCall[LiveSession]) -> None:
        self._calls.pop(call.id, None)
        self._host.capacity.release(call.id)

    def track(self, session: LiveSession, credential: Credential, end_user: str | None) -> None:
        """Count a WebSocket session against ``credential``'s caps (429/503 when over) and list it."""
        self._host.capacity.admit("session", session, self._host.cap_key(credential, end_user))
        self._sockets[session.id] = session

    def untrack(self, session: LiveSession) -> None:
        """Forget a WebSocket session its handler closed."""
        self._sockets.pop(session.id, None)
        self._host.capacity.release(session)

    def get(self, session_id: str) -> LiveSession:
        """The running session ``session_id``; 404 ``session_not_found`` once it has ended."""
        call = self._calls.get(session_id)
        session = call.session if call is not None else self._sockets.get(session_id)
        if session is None or session.ended.is_set():
            raise _not_found(session_id)
        return session

    async def hangup(self, session_id: str) -> None:
        """End a session as ``session.close`` would (``POST …/hangup``)."""
        await self.get(session_id).close("close_requested")

    async def aclose(self) -> None:
        """Hang up every call and end every WebSocket session."""
        await asyncio.gather(*(call.close() for call in list(self._calls.values())), return_exceptions=True)
        for session in list(self._sockets.values()):
            await session.aclose()
