"""The effective configuration of one realtime session: GA defaults, strict updates, the full echo.

A session config is kept as the JSON dict the server would echo, because that is what every consumer
needs (``session.created``/``updated``, the client-secret answer). Requests are validated strictly with
the official request types (:func:`voxgate.protocol.strict.parse_strict`), then a few range rules the
SDK types don't encode are checked here, so one bad field rejects the whole update (reference §3.3).
"""

from __future__ import annotations

import copy
from typing import Any

from openai.types.realtime import RealtimeSessionCreateRequest, RealtimeTranscriptionSessionCreateRequest

from voxgate.engine.config import DEFAULT_INSTRUCTIONS
from voxgate.errors import InvalidRequest
from voxgate.protocol.strict import parse_strict

__all__ = ["apply_update", "default_session", "echo_session", "parse_session_request"]

_PCM = {"type": "audio/pcm", "rate": 24000}
# The real server's server_vad defaults (S3 example, S7 capture): silence 200 ms, not the documented 500.
_SERVER_VAD = {
    "type": "server_vad",
    "threshold": 0.5,
    "prefix_padding_ms": 300,
    "silence_duration_ms": 200,
    "idle_timeout_ms": None,
    "create_response": True,
    "interrupt_response": True,
}
# Keys merged field by field on update; every other key (turn_detection, format, tools…) is replaced.
_MERGED = {("audio",), ("audio", "input"), ("audio", "output")}
_OBJECT = {"realtime": "realtime.session", "transcription": "realtime.transcription_session"}


def default_session(kind: str, model: str) -> dict[str, Any]:
    """The full GA default config of a new ``realtime`` or ``transcription`` session (without ids)."""
    if kind == "transcription":
        # The transcription echo's turn_detection type only names these four keys, so send no more.
        vad = {k: _SERVER_VAD[k] for k in ("type", "threshold", "prefix_padding_ms", "silence_duration_ms")}
        return {
            "type": "transcription",
            "audio": {
                "input": {
                    "format": dict(_PCM),
                    "transcription": None,
                    "noise_reduction": None,
                    "turn_detection": vad,
                }
            },
            "include": None,
        }
    return {
        "type": "realtime",
        "model": model,
        "output_modalities": ["audio"],
        "instructions": DEFAULT_INSTRUCTIONS,
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "truncation": "auto",
        "prompt": None,
        "audio": {
            "input": {
                "format": dict(_PCM),
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": dict(_SERVER_VAD),
            },
            "output": {"format": dict(_PCM), "voice": "alloy", "speed": 1.0},
        },
        "include": None,
    }


def parse_session_request(data: Any, *, param_prefix: str = "session") -> dict[str, Any]:
    """Strictly parse a GA session object (realtime or transcription); return only the fields given.

    Raises :class:`InvalidRequest` naming the offending ``param`` (``unknown_parameter`` for unknown keys).
    """
    if not isinstance(data, dict):
        raise InvalidRequest(f"Invalid type for '{param_prefix}': expected an object.", param=param_prefix)
    kind = data.get("type")
    if kind is None:
        raise InvalidRequest(
            f"Missing required parameter: '{param_prefix}.type'.",
            code="missing_required_parameter",
            param=f"{param_prefix}.type",
        )
    official: Any
    if kind == "realtime":
        official = RealtimeSessionCreateRequest
    elif kind == "transcription":
        official = RealtimeTranscriptionSessionCreateRequest
    else:
        raise InvalidRequest(
            f"Invalid value: '{kind}'. Supported values are: 'realtime' and 'transcription'.",
            param=f"{param_prefix}.type",
        )
    parsed = parse_strict(official, data, param_prefix=param_prefix)
    # exclude_unset keeps explicit nulls, which the protocol uses to switch features off.
    fields: dict[str, Any] = parsed.model_dump(mode="json", exclude_unset=True, by_alias=True)
    _check_ranges(fields, param_prefix)
    return fields


def _check_ranges(fields: dict[str, Any], prefix: str) -> None:
    """Rules of the real API that the SDK's types leave open."""
    modalities = fields.get("output_modalities")
    if modalities is not None and sorted(modalities) not in (["audio"], ["text"]):
        raise InvalidRequest(
            "Invalid value: output_modalities must be either ['audio'] or ['text'].",
            param=f"{prefix}.output_modalities",
        )
    tokens = fields.get("max_output_tokens")
    if isinstance(tokens, int) and not 1 <= tokens <= 4096:
        raise InvalidRequest(
            f"Invalid 'max_output_tokens': integer {tokens} is out of range [1, 4096].",
            code="integer_out_of_range",
            param=f"{prefix}.max_output_tokens",
        )
    output = (fields.get("audio") or {}).get("output") or {}
    speed = output.get("speed")
    if speed is not None and not 0.25 <= speed <= 1.5:
        raise InvalidRequest(
            f"Invalid 'audio.output.speed': {speed} is out of range [0.25, 1.5].",
            code="decimal_out_of_range",
            param=f"{prefix}.audio.output.speed",
        )
    turn = ((fields.get("audio") or {}).get("input") or {}).get("turn_detection") or {}
    threshold = turn.get("threshold")
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise InvalidRequest(
            f"Invalid 'turn_detection.threshold': {threshold} is out of range [0, 1].",
            code="decimal_out_of_range",
            param=f"{prefix}.audio.input.turn_detection.threshold",
        )


def apply_update(
    current: dict[str, Any], update: dict[str, Any], *, voice_locked: bool = False, prefix: str = "session"
) -> dict[str, Any]:
    """The config after ``update`` (a :func:`parse_session_request` result); ``current`` is not changed.

    Only present fields change; ``audio``/``audio.input``/``audio.output`` merge key by key. The model and
    session type cannot change, ``tracing`` cannot change once set, and the voice is fixed after the first
    audio output (reference §3.1, §7).
    """
    if update.get("type", current["type"]) != current["type"]:
        raise InvalidRequest("Cannot change the session type of an existing session.", param=f"{prefix}.type")
    if "model" in update and update["model"] != current.get("model"):
        raise InvalidRequest(
            "Cannot update a session's model once it has been created.", param=f"{prefix}.model"
        )
    if "tracing" in update and current.get("tracing") is not None and update["tracing"] != current["tracing"]:
        raise InvalidRequest("Tracing cannot be modified once it is enabled.", param=f"{prefix}.tracing")
    new_voice = ((update.get("audio") or {}).get("output") or {}).get("voice")
    old_voice = ((current.get("audio") or {}).get("output") or {}).get("voice")
    if voice_locked and new_voice is not None and new_voice != old_voice:
        raise InvalidRequest(
            "Cannot update a conversation's voice if assistant audio is present.",
            code="cannot_update_voice",
            param=f"{prefix}.audio.output.voice",
        )
    merged = _merge(copy.deepcopy(current), update, ())
    _fill_formats(merged)
    return merged


def _merge(into: dict[str, Any], update: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    for key, value in update.items():
        sub = (*path, key)
        if sub in _MERGED and isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value, sub)
        else:
            into[key] = copy.deepcopy(value)
    return into


def _fill_formats(config: dict[str, Any]) -> None:
    """Echo ``audio/pcm`` with its only rate, as the server does when a client omits it."""
    for side in ("input", "output"):
        fmt = ((config.get("audio") or {}).get(side) or {}).get("format")
        if isinstance(fmt, dict) and fmt.get("type", "audio/pcm") == "audio/pcm":
            fmt.setdefault("type", "audio/pcm")
            fmt.setdefault("rate", 24000)


_SEMANTIC_VAD = {
    "type": "semantic_vad",
    "eagerness": "auto",
    "create_response": True,
    "interrupt_response": True,
}


def effective_turn_detection(kind: str, turn_detection: dict[str, Any] | None) -> dict[str, Any] | None:
    """``turn_detection`` as in effect: every field the client left out filled with its default.

    A client's ``turn_detection`` replaces the whole object, so ``{"type": "semantic_vad"}`` means the
    defaults for the rest, and that is what the server shows (a transcription session's echo names only
    the four fields its type has).
    """
    if not turn_detection:
        return turn_detection
    if turn_detection.get("type") == "semantic_vad":
        defaults: dict[str, Any] = _SEMANTIC_VAD
    elif turn_detection.get("type") == "server_vad":
        defaults = _SERVER_VAD
    else:
        return dict(turn_detection)
    if kind == "transcription":
        defaults = {k: defaults[k] for k in ("type", "threshold", "prefix_padding_ms", "silence_duration_ms")}
    return {**defaults, **turn_detection}


def echo_session(config: dict[str, Any], *, session_id: str, expires_at: int) -> dict[str, Any]:
    """The server's echo of ``config``: the full effective object (defaults filled in, as the real server
    shows it, not the client's own words back) with ``object``, ``id`` and ``expires_at``."""
    full = copy.deepcopy(config)
    audio_input = (full.get("audio") or {}).get("input")
    if isinstance(audio_input, dict) and audio_input.get("turn_detection"):
        audio_input["turn_detection"] = effective_turn_detection(full["type"], audio_input["turn_detection"])
    return {"object": _OBJECT[full["type"]], "id": session_id, "expires_at": expires_at, **full}
