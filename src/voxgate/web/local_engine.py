"""The local engine, built from Settings: for ``voxgate engine`` and for embedding in ``voxgate serve``.

Embedded, the engine is mounted under ``/engine`` and the gateway uses it as its upstream over HTTP,
exactly as it would use OpenAI: the same client-secret call, the same calls URL, the same errors. The
gateway authenticates to it with a random standard key made per process, never shown anywhere.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Receive, Scope, Send

from voxgate.settings import Settings
from voxgate.web.errors import error_response

if TYPE_CHECKING:
    # The engine (aiortc, av, numpy, the speech models) is imported only when a process builds one:
    # a gateway with an OpenAI upstream never loads it (about 70 MB and half its start time).
    from starlette.applications import Starlette

    from voxgate.engine.assistants.responder import Responder
    from voxgate.engine.config import EngineConfig
    from voxgate.engine.ports import InputObserverFactory, VoiceSession
    from voxgate.engine.server.engine import Engine

__all__ = [
    "EMBEDDED_PREFIX",
    "EngineMount",
    "build_engine",
    "build_responder",
    "build_voice",
    "engine_config",
    "internal_key",
]

log = logging.getLogger("voxgate.engine")

EMBEDDED_PREFIX = "/engine"


def internal_key() -> str:
    """A fresh standard key for the gateway's own calls to its embedded engine."""
    return "sk-voxgate-internal-" + secrets.token_urlsafe(24)


def engine_config(
    settings: Settings, extra_keys: list[str] | None = None, *, trusted_keys: list[str] | None = None
) -> EngineConfig:
    """The engine's plain config from Settings. ``trusted_keys`` (the gateway's own key, when embedded)
    are capped per end user, as named by the ``OpenAI-Safety-Identifier`` the gateway sends, not per key."""
    from voxgate.engine.config import EngineConfig, IceServer

    engine = settings.engine
    return EngineConfig(
        api_keys=frozenset(
            [*engine.api_keys, *(extra_keys or []), *engine.trusted_keys, *(trusted_keys or [])]
        ),
        model=engine.model,
        ice_servers=tuple(IceServer(**server) for server in engine.ice_servers),
        session_max_duration_s=engine.session_max_seconds,
        call_connect_timeout_s=engine.call_connect_timeout_s,
        max_calls_per_key=engine.max_calls_per_key,
        max_sessions_per_key=engine.max_sessions_per_key,
        max_calls=engine.max_calls,
        max_live_total=engine.max_live_total,
        trusted_keys=frozenset([*engine.trusted_keys, *(trusted_keys or [])]),
        max_output_chars=engine.max_output_chars,
        live_usage_interval_s=engine.live_usage_interval_s,
    )


def build_responder(settings: Settings) -> Responder:
    """The configured responder: the echo assistant, or a Chat Completions server."""
    from voxgate.engine.assistants.chat_responder import ChatCompletionsResponder
    from voxgate.engine.assistants.responder import EchoResponder

    engine = settings.engine
    if engine.responder == "chat":
        if not engine.chat_base_url:
            raise ValueError("VOXGATE_ENGINE__RESPONDER=chat needs VOXGATE_ENGINE__CHAT_BASE_URL")
        key = engine.chat_api_key.get_secret_value() if engine.chat_api_key else None
        return ChatCompletionsResponder(engine.chat_base_url, engine.chat_model, key)
    return EchoResponder()


def build_voice(settings: Settings) -> InputObserverFactory[VoiceSession]:
    """The voice pipeline (turn detection, barge-in, transcription): Whisper loaded here, once, and
    shared; Silero's model loaded once too, with a detector (its state) per session. Blocking (~1 s):
    run it in a thread from async code.

    Whisper encodes turns of up to 9 s in a 10 s window rather than its 30 s one: a quarter of the
    time for the same words (see :mod:`voxgate.engine.speech.asr`), which is most of the reply latency.
    """
    from voxgate.engine.speech.asr import WhisperRecognizer
    from voxgate.engine.speech.vad import SileroModel
    from voxgate.engine.voice.observer import voice_observer_factory

    recognizer = WhisperRecognizer(
        settings.engine.asr_model, cpu_threads=settings.engine.asr_threads, window_s=10.0
    )
    recognizer.warm_up()
    return voice_observer_factory(SileroModel().detector, recognizer)


async def build_engine(
    settings: Settings, stack: AsyncExitStack, extra_keys: list[str] | None = None
) -> Engine:
    """An engine with its speech stack loaded (off the event loop), closed by ``stack``."""
    from voxgate.engine.assistants.chat_responder import ChatCompletionsResponder
    from voxgate.engine.server.engine import Engine
    from voxgate.engine.speech.tts import create_synthesizer

    responder = build_responder(settings)
    if isinstance(responder, ChatCompletionsResponder):
        stack.push_async_callback(responder.aclose)
    synthesizer = await asyncio.to_thread(create_synthesizer, settings.engine.tts)
    voice = await asyncio.to_thread(build_voice, settings)
    engine = Engine(
        # The gateway's own key (the only extra key of an embedded engine) relays every user's calls.
        engine_config(settings, trusted_keys=extra_keys),
        responder=responder,
        synthesizer=synthesizer,
        observer_factory=voice,
    )
    stack.push_async_callback(engine.aclose)
    log.info(
        "local engine ready (responder %s, voice %s)",
        settings.engine.responder,
        type(synthesizer).__name__ if synthesizer is not None else "off",
    )
    return engine


class EngineMount:
    """An ASGI app standing in for the engine's app until the lifespan has built the engine."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    def attach(self, engine: Engine) -> Starlette:
        """Serve ``engine``'s app from now on; returns it."""
        from voxgate.engine.server.http import create_engine_app

        app = create_engine_app(engine.config, engine=engine)
        self.app = app
        return app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.app is None:
            if scope["type"] == "http":
                starting = error_response(
                    503, "server_error", "engine_starting", "The local engine is starting."
                )
                await starting(scope, receive, send)
            elif scope["type"] == "websocket":
                # 1013: try again later.
                await send({"type": "websocket.close", "code": 1013})
            return
        await self.app(scope, receive, send)
