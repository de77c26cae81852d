"""A Live session's startup config, parsed strictly once, and the session resource its events carry.

The request is validated with the SDK's own model (``openai.types.live.SessionConfig``) and every key it
does not declare is refused with ``unknown_parameter`` (reference §1.1: the config is
``additionalProperties: false``). The WebRTC config (``MediaSessionConfigParam``) is the same minus
``audio.format`` (negotiated by SDP) plus ``idle_timeout_s`` and ``wake_policy``; the WebSocket one
(``session.start``) is the reverse.

Choices the reference leaves open, made for the official SDK to accept them: an unknown voice name is a
400 with code ``forbidden`` (what OpenAI answered for ``fable``); only ``client`` delegation exists here
(the engine runs no Responses or Decisions backend), others get ``unsupported_value``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, get_args

from openai.types.live import SessionConfig
from openai.types.live.built_in_voice import BuiltInVoice

from voxgate.errors import InvalidRequest
from voxgate.protocol.strict import parse_strict

__all__ = ["PCM_24K", "LiveSettings", "Transport", "parse_live_session"]

Transport = Literal["webrtc", "websocket"]
PCM_24K: Mapping[str, Any] = MappingProxyType({"type": "audio/pcm", "rate": 24000})
DEFAULT_VOICE = "marin"
# The SDK's built-in names, and the ones the November 2026 docs add (accepted there as plain strings).
VOICES = frozenset(get_args(BuiltInVoice)) | {
    "nuri",
    "juni",
    "flitz",
    "brise",
    "sillage",
    "nira",
    "harema",
    "noeul",
}
_WEBRTC_ONLY = ("idle_timeout_s", "wake_policy")


@dataclass(frozen=True, slots=True)
class LiveSettings:
    """The startup settings of one Live session, defaults filled in."""

    transport: Transport
    model: str
    instructions: str | None = None
    voice: str | Mapping[str, Any] = DEFAULT_VOICE
    audio_format: Mapping[str, Any] = field(default_factory=lambda: PCM_24K)
    client: Mapping[str, Any] | None = None
    input: tuple[Mapping[str, Any], ...] = ()
    store: bool | None = None
    safety_identifier: str | None = None
    idle_timeout_s: int | None = None
    wake_threshold: float = 0.5

    @property
    def voice_name(self) -> str | None:
        """The synthesizer's voice: a built-in name (a custom voice speaks with the default)."""
        return self.voice if isinstance(self.voice, str) else None

    def resource(self, session_id: str, expires_at: int) -> dict[str, Any]:
        """The ``SessionResource`` of ``session.started``/``updated``/``closed``."""
        audio: dict[str, Any] = {"output": {"voice": self.voice}}
        if self.transport == "websocket":
            audio["format"] = dict(self.audio_format)
        resource: dict[str, Any] = {
            "id": session_id,
            "expires_at": expires_at,
            "model": self.model,
            "status": "active",
            "audio": audio,
            "delegation": {"type": "client"},
            "input": [dict(item) for item in self.input],
            "instructions": self.instructions,
        }
        if self.client is not None:
            resource["client"] = dict(self.client)
        if self.store is not None:
            resource["store"] = self.store
        if self.safety_identifier is not None:
            resource["safety_identifier"] = self.safety_identifier
        return resource


def _webrtc_extras(data: dict[str, Any]) -> tuple[int | None, float]:
    timeout = data.pop("idle_timeout_s", None)
    if timeout is not None and (not isinstance(timeout, int) or isinstance(timeout, bool) or timeout < 1):
        raise InvalidRequest(
            "Invalid 'session.idle_timeout_s': expected a positive integer.", param="session.idle_timeout_s"
        )
    wake = data.pop("wake_policy", None)
    if wake is None:
        return timeout, 0.5
    if not isinstance(wake, dict) or wake.get("type") != "speech":
        raise InvalidRequest(
            "Invalid value for 'session.wake_policy.type'.", param="session.wake_policy.type"
        )
    for key in wake:
        if key not in ("type", "vad_threshold"):
            param = f"session.wake_policy.{key}"
            raise InvalidRequest(f"Unknown parameter: '{param}'.", code="unknown_parameter", param=param)
    threshold = wake.get("vad_threshold", 0.5)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
        raise InvalidRequest(
            "Invalid 'session.wake_policy.vad_threshold': expected a number from 0 to 1.",
            param="session.wake_policy.vad_threshold",
        )
    return timeout, float(threshold)


def parse_live_session(raw: Any, transport: Transport, *, models: tuple[str, ...]) -> LiveSettings:
    """Validate a startup config (the create body's ``session``, or ``session.start``'s) strictly."""
    if not isinstance(raw, dict):
        raise InvalidRequest("Invalid type for 'session': expected an object.", param="session")
    data = dict(raw)
    timeout, wake = _webrtc_extras(data) if transport == "webrtc" else (None, 0.5)
    if transport == "webrtc" and "format" in (data.get("audio") or {}):
        raise InvalidRequest(
            "Unknown parameter: 'session.audio.format'. WebRTC negotiates its audio format in the SDP.",
            code="unknown_parameter",
            param="session.audio.format",
        )
    config: SessionConfig = parse_strict(SessionConfig, data, param_prefix="session")
    if config.model not in models:
        raise InvalidRequest(
            f"The model '{config.model}' is not a GPT-Live model served here ({', '.join(models)}).",
            code="invalid_model",
            param="session.model",
        )
    voice = config.audio.output.voice if config.audio and config.audio.output else None
    if isinstance(voice, str) and voice not in VOICES:
        raise InvalidRequest(
            f"The voice '{voice}' is not available for GPT-Live.",
            code="forbidden",
            param="session.audio.output.voice",
        )
    if config.delegation is not None and config.delegation.type != "client":
        raise InvalidRequest(
            f"Delegation '{config.delegation.type}' is not supported by the local engine; use 'client'.",
            code="unsupported_value",
            param="session.delegation.type",
        )
    fmt = config.audio.format if config.audio and config.audio.format else None
    return LiveSettings(
        transport=transport,
        model=config.model,
        instructions=config.instructions,
        voice=voice if isinstance(voice, str) else voice.model_dump() if voice is not None else DEFAULT_VOICE,
        audio_format=MappingProxyType(fmt.model_dump(exclude_none=True)) if fmt is not None else PCM_24K,
        client=config.client.model_dump(mode="json", exclude_unset=True) if config.client else None,
        input=tuple(item.model_dump(mode="json", exclude_unset=True) for item in config.input or ()),
        store=config.store,
        safety_identifier=config.safety_identifier,
        idle_timeout_s=timeout,
        wake_threshold=wake,
    )
