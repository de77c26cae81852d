"""The server-side session policy: what a minted session contains and what a client may change.

A client asks for a token with a partial GA session (e.g. ``{"audio": {"output": {"voice": "cedar"}}}``).
Every leaf it sets must lie under one of the policy's allowed override paths; everything else is the
server's to decide. The merged session is then validated strictly against the official GA types, so a
policy or override can never produce a session the real API would refuse.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from openai.types.realtime import RealtimeSessionCreateRequest

from voxgate.errors import InvalidRequest
from voxgate.protocol.strict import parse_strict

__all__ = ["TTL_MAX", "TTL_MIN", "SessionPolicy", "clamp_ttl"]

# The bounds OpenAI accepts for ``expires_after.seconds``.
TTL_MIN = 10
TTL_MAX = 7200

_LANGUAGE = re.compile(r"^[a-z]{2,3}$")
_PCM24K = {"type": "audio/pcm", "rate": 24000}


def clamp_ttl(requested: int | None, *, default: int, maximum: int) -> int:
    """The TTL to mint with: the request (or default), held to 10–7200 s and to ``maximum``."""
    ttl = default if requested is None else requested
    return max(TTL_MIN, min(ttl, maximum, TTL_MAX))


def _leaves(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from _leaves(value, f"{path}.")
        else:
            yield path, value


def _set_path(target: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = target
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[last] = value


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """Plain policy values; the web layer builds this from Settings."""

    model: str
    instructions: str
    voice: str
    allowed_voices: Sequence[str]
    output_modalities: Sequence[str] = ("audio",)
    turn_detection: Mapping[str, Any] | None = None
    transcription_model: str | None = None
    transcription_language: str | None = None
    allowed_languages: Sequence[str] | None = None
    client_overrides: Sequence[str] = field(default_factory=tuple)
    ttl_default: int = 300
    ttl_max: int = 600
    # Set once the base session has passed the strict check: it is the same every time, so the requests
    # that override nothing (most of them) skip the check, ~5 % of a mint's CPU.
    _base_checked: list[bool] = field(default_factory=list, init=False, repr=False, compare=False)

    def base_session(self) -> dict[str, Any]:
        """The GA session every token gets before client overrides."""
        transcription: dict[str, Any] | None = None
        if self.transcription_model:
            transcription = {"model": self.transcription_model}
            if self.transcription_language:
                transcription["language"] = self.transcription_language
        return {
            "type": "realtime",
            "model": self.model,
            "instructions": self.instructions,
            "output_modalities": list(self.output_modalities),
            "audio": {
                "input": {
                    "format": dict(_PCM24K),
                    "transcription": transcription,
                    "turn_detection": copy.deepcopy(dict(self.turn_detection))
                    if self.turn_detection
                    else None,
                },
                "output": {"format": dict(_PCM24K), "voice": self.voice},
            },
        }

    def ttl(self, requested: int | None) -> int:
        """Clamp a requested TTL to this policy."""
        return clamp_ttl(requested, default=self.ttl_default, maximum=self.ttl_max)

    def _allowed(self, path: str) -> bool:
        return any(path == allowed or path.startswith(allowed + ".") for allowed in self.client_overrides)

    def _check_value(self, path: str, value: Any, session: Mapping[str, Any]) -> Any:
        param = f"session.{path}"
        if path == "audio.output.voice":
            if value not in self.allowed_voices:
                allowed = ", ".join(self.allowed_voices)
                raise InvalidRequest(
                    f"Voice {value!r} is not allowed; choose one of: {allowed}.", param=param
                )
        elif path == "audio.input.transcription.language":
            if session["audio"]["input"]["transcription"] is None:
                raise InvalidRequest("Input transcription is turned off by the server's policy.", param=param)
            if value in (None, "", "auto"):
                return None
            if not isinstance(value, str) or not _LANGUAGE.match(value):
                raise InvalidRequest(
                    "Language must be an ISO-639-1 code such as 'en' or 'auto'.", param=param
                )
            if self.allowed_languages is not None and value not in self.allowed_languages:
                raise InvalidRequest(
                    f"Language {value!r} is not allowed by the server's policy.", param=param
                )
        return value

    def build(self, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
        """The session to mint: the policy with the client's allowed ``overrides`` applied.

        Raises :class:`InvalidRequest` naming the parameter for anything the client may not set.
        """
        session = self.base_session()
        if overrides is not None and not isinstance(overrides, Mapping):
            raise InvalidRequest("'session' must be an object.", param="session")
        if not overrides and self._base_checked:
            return session
        for path, value in _leaves(overrides or {}):
            if path == "type" and value == "realtime":
                continue
            if not self._allowed(path):
                raise InvalidRequest(
                    f"The session parameter '{path}' is set by the server and cannot be overridden.",
                    code="override_not_allowed",
                    param=f"session.{path}",
                )
            value = self._check_value(path, value, session)
            if value is None and path == "audio.input.transcription.language":
                session["audio"]["input"]["transcription"].pop("language", None)
                continue
            _set_path(session, path, value)
        parse_strict(RealtimeSessionCreateRequest, session, param_prefix="session")
        if not overrides:
            self._base_checked.append(True)
        return session
