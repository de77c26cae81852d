"""The engine: the one owner of keys, live calls and live WebSocket sessions, and the session factory.

Whoever builds an :class:`Engine` closes it (``await engine.aclose()`` or ``async with engine``); closing
hangs up every call and ends every session. :func:`voxgate.engine.server.http.create_engine_app` builds one
and closes it in the app's lifespan unless it is handed an engine it does not own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Literal

from voxgate.engine.assistants.capped import CappedResponder
from voxgate.engine.assistants.responder import EchoResponder, Responder
from voxgate.engine.config import EngineConfig
from voxgate.engine.ids import new_id
from voxgate.engine.ports import AudioPlayback, InputObserverFactory, VoiceSession
from voxgate.engine.realtime.realtime_session import RealtimeSession
from voxgate.engine.realtime.session_config import apply_update, default_session, parse_session_request
from voxgate.engine.rtc.offer import read_offer
from voxgate.engine.rtc.peer import Peer
from voxgate.engine.rtc.rtc_call import RtcCall
from voxgate.engine.server.caps import Capacity, Limits, cap_key
from voxgate.engine.server.keys import Credential, KeyStore, key_fingerprint
from voxgate.engine.server.live_calls import LiveSessions
from voxgate.engine.speech.base import SpeechSynthesizer
from voxgate.errors import NotFound

__all__ = ["Engine"]


def _call_not_found(call_id: str) -> NotFound:
    return NotFound(f"Call '{call_id}' not found.", code="call_not_found", param="call_id")


class Engine:
    """Shared state of one engine process. Components are injected; nothing here reads the environment."""

    def __init__(
        self,
        config: EngineConfig,
        *,
        responder: Responder | None = None,
        synthesizer: SpeechSynthesizer | None = None,
        observer_factory: InputObserverFactory[VoiceSession] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.keys = KeyStore(config.api_keys, clock=clock)
        # Every response's text is capped, whoever writes it (see CappedResponder).
        self.responder: Responder = CappedResponder(responder or EchoResponder(), config.max_output_chars)
        self.capacity = Capacity(
            Limits(
                calls_per_key=config.max_calls_per_key,
                sessions_per_key=config.max_sessions_per_key,
                calls=config.max_calls,
                total=config.max_live_total,
            )
        )
        self._trusted = frozenset(key_fingerprint(key) for key in config.trusted_keys)
        self.synthesizer = synthesizer
        self.observer_factory = observer_factory
        self._clock = clock
        self._calls: dict[str, RtcCall[RealtimeSession]] = {}
        # call id → fingerprint of the ek_ key that opened it: such a key may end only its own calls.
        self._openers: dict[str, str] = {}
        self._sessions: set[RealtimeSession] = set()
        # GPT-Live sessions (/v1/live/sessions): the same keys and caps, their own registry.
        self.live = LiveSessions(self, clock=clock)
        self._closed = False
        # Validate the configured defaults once, so a typo fails at startup, not on the first call.
        if config.default_session:
            parse_session_request({"type": "realtime", **config.default_session})

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # ---- sessions ----------------------------------------------------------------------------------

    def session_config(
        self,
        credential: Credential,
        *,
        kind: str | None = None,
        model: str | None = None,
        override: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The starting config of a new session: GA defaults ← engine defaults ← key's session ← override.

        ``kind`` (``realtime``/``transcription``) and ``model`` (e.g. from the URL) win over the layers;
        otherwise the last layer naming them decides. Layers are parsed session fields (see
        :func:`~voxgate.engine.realtime.session_config.parse_session_request`).
        """
        layers = [layer for layer in (credential.session, override or {}) if layer]
        kind = kind or next((str(lay["type"]) for lay in reversed(layers) if "type" in lay), "realtime")
        layers = [layer for layer in layers if layer.get("type", kind) == kind]
        model = model or next((str(lay["model"]) for lay in reversed(layers) if lay.get("model")), None)
        config = default_session(kind, model or self.config.model)
        if kind == "realtime" and self.config.default_session:
            layers.insert(0, parse_session_request({"type": "realtime", **self.config.default_session}))
        for layer in layers:
            # The model is settled above; apply_update would refuse a change of it.
            config = apply_update(config, {**{k: v for k, v in layer.items() if k != "model"}, "type": kind})
        return config

    def new_session(
        self,
        config: dict[str, Any],
        transport: Literal["websocket", "webrtc"],
        playback: AudioPlayback | None = None,
    ) -> RealtimeSession:
        """A session wired to the engine's responder, synthesizer and input observer."""
        return RealtimeSession(
            config=self.config,
            session=config,
            transport=transport,
            responder=self.responder,
            synthesizer=self.synthesizer,
            playback=playback,
            observer_factory=self.observer_factory,
            clock=self._clock,
        )

    def cap_key(self, credential: Credential | None, end_user: str | None = None) -> str | None:
        """Whose share ``credential``'s calls and sessions use (see :mod:`~voxgate.engine.server.caps`);
        ``end_user`` is the request's ``OpenAI-Safety-Identifier``."""
        if credential is None:
            return None
        return cap_key(
            credential.kind,
            credential.key_id,
            minted_by=credential.minted_by,
            trusted=self._trusted,
            end_user=end_user,
        )

    def check_call(self, credential: Credential | None, end_user: str | None = None) -> None:
        """Raise the documented 429/503 when ``credential`` may not open one more call now (so a refused
        offer is not even read)."""
        self.capacity.check("call", self.cap_key(credential, end_user))

    def check_session(self, credential: Credential, end_user: str | None = None) -> None:
        """Raise the documented 429/503 when ``credential`` may not open one more WebSocket session now."""
        self.capacity.check("session", self.cap_key(credential, end_user))

    def track_session(
        self, session: RealtimeSession, credential: Credential | None = None, end_user: str | None = None
    ) -> None:
        """Register a WebSocket session so shutdown ends it, counted against ``credential``'s caps.

        Raises the documented 429/503 (and registers nothing) when it is over a cap."""
        self.capacity.admit("session", session, self.cap_key(credential, end_user))
        self._sessions.add(session)

    def untrack_session(self, session: RealtimeSession) -> None:
        """Forget a WebSocket session its handler has closed."""
        self._sessions.discard(session)
        self.capacity.release(session)

    # ---- calls -------------------------------------------------------------------------------------

    async def create_call(
        self,
        offer_sdp: str,
        session_config: dict[str, Any],
        *,
        opener: Credential | None = None,
        end_user: str | None = None,
    ) -> tuple[str, str]:
        """Answer a WebRTC offer; returns ``(call_id, answer_sdp)``. The call is closed again on failure.

        ``opener`` is who posted the offer; an ephemeral key is remembered (by fingerprint) so that
        :meth:`hangup` lets it end this call and no other. An unusable offer is refused (400
        ``invalid_offer``) before anything is built for it, and so is one over a cap (429
        ``too_many_calls`` for the opener's share, 503 ``engine_at_capacity`` for the process);
        ``end_user`` is the request's ``OpenAI-Safety-Identifier``.
        """
        offer = read_offer(offer_sdp)
        self.check_call(opener, end_user)
        call = RtcCall(
            new_id("rtc", 16),
            Peer(self.config.ice_servers, audio=offer.audio),
            connect_timeout_s=self.config.call_connect_timeout_s,
            make_session=lambda playback: self.new_session(session_config, "webrtc", playback),
            on_closed=self._forget_call,
        )
        # Counted from now until the call is closed: a half-open call holds its place until it is reaped.
        self.capacity.admit("call", call.id, self.cap_key(opener, end_user))
        self._calls[call.id] = call
        if opener is not None and opener.kind == "ephemeral" and opener.key_id is not None:
            self._openers[call.id] = opener.key_id
        try:
            answer = await call.answer(offer)
        except BaseException:
            await call.close()
            raise
        return call.id, answer

    def _forget_call(self, call: RtcCall[RealtimeSession]) -> None:
        self._calls.pop(call.id, None)
        self._openers.pop(call.id, None)
        self.capacity.release(call.id)

    def call(self, call_id: str, *, credential: Credential | None = None) -> RtcCall[RealtimeSession]:
        """The live call ``call_id``; raises :class:`NotFound` (404) otherwise.

        A call whose session has ended is already on its way out and counts as gone. With
        ``credential``, an ephemeral key sees only the calls it opened: any other call is answered
        exactly like an unknown one, so a client secret cannot probe which calls exist.
        """
        call = self._calls.get(call_id)
        if call is None or (call.session is not None and call.session.ended.is_set()):
            raise _call_not_found(call_id)
        if (
            credential is not None
            and credential.kind == "ephemeral"
            and (credential.key_id is None or self._openers.get(call_id) != credential.key_id)
        ):
            raise _call_not_found(call_id)
        return call

    async def hangup(self, call_id: str, *, credential: Credential | None = None) -> None:
        """End a call (``POST /v1/realtime/calls/{id}/hangup``). A standard key (or an internal caller,
        ``credential=None``) may end any call, an ``ek_`` key only the calls it opened."""
        await self.call(call_id, credential=credential).close()

    async def aclose(self) -> None:
        """Hang up every call and end every WebSocket session. Idempotent."""
        if self._closed:
            return
        self._closed = True
        await self.live.aclose()
        await asyncio.gather(*(call.close() for call in list(self._calls.values())), return_exceptions=True)
        for session in list(self._sessions):
            # The WebSocket handlers see ``ended`` and close their sockets; aclose cancels the rest.
            await session.aclose()
