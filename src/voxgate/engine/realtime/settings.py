"""A session's effective configuration as a typed object, built once per ``session.update``.

The GA session object stays a JSON dict where the protocol needs one (the echo in ``session.created``/
``updated`` and the client-secret answer); everything the engine *reads* (responses, the voice
pipeline, the transcriber) reads these fields instead of digging through the dict with ``.get(...)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from voxgate.engine.turns import TurnParams

__all__ = ["PCM_24K", "SessionSettings"]

PCM_24K: Mapping[str, Any] = MappingProxyType({"type": "audio/pcm", "rate": 24000})


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """The fields of one session config that the engine acts on, with the GA defaults filled in."""

    kind: Literal["realtime", "transcription"]
    output_modalities: tuple[str, ...] = ("audio",)
    instructions: str = ""
    tools: tuple[dict[str, Any], ...] = ()
    tool_choice: Any = "auto"
    max_output_tokens: int | Literal["inf"] = "inf"
    input_format: Mapping[str, Any] = field(default_factory=lambda: PCM_24K)
    output_format: Mapping[str, Any] = field(default_factory=lambda: PCM_24K)
    voice: str | Mapping[str, Any] = "alloy"
    speed: float = 1.0
    transcription: Mapping[str, Any] | None = None
    turn: TurnParams | None = None

    @property
    def transcription_language(self) -> str | None:
        """The language the client asked the transcription to use (None: detect)."""
        language = (self.transcription or {}).get("language")
        return str(language) if language else None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SessionSettings:
        """Read a full session config (a :func:`~voxgate.engine.realtime.session_config.apply_update`
        result) once."""
        kind: Literal["realtime", "transcription"] = (
            "transcription" if config.get("type") == "transcription" else "realtime"
        )
        audio = config.get("audio") or {}
        audio_in = audio.get("input") or {}
        audio_out = audio.get("output") or {}
        tokens = config.get("max_output_tokens")
        return cls(
            kind=kind,
            output_modalities=tuple(config.get("output_modalities") or ("audio",)),
            instructions=str(config.get("instructions") or ""),
            tools=tuple(config.get("tools") or ()),
            tool_choice=config.get("tool_choice") or "auto",
            max_output_tokens=tokens if isinstance(tokens, int) else "inf",
            input_format=MappingProxyType(dict(audio_in.get("format") or PCM_24K)),
            output_format=MappingProxyType(dict(audio_out.get("format") or PCM_24K)),
            voice=audio_out.get("voice") or "alloy",
            speed=float(audio_out.get("speed") or 1.0),
            transcription=MappingProxyType(dict(audio_in["transcription"]))
            if audio_in.get("transcription")
            else None,
            turn=TurnParams.from_config(audio_in.get("turn_detection"), responses=kind == "realtime"),
        )
