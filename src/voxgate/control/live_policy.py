"""The server-side GPT-Live policy: the session a relayed Live call gets and what a client may choose.

A client sends ``session`` overrides in OpenAI's shape (``{"audio": {"output": {"voice": "cedar"}}}``).
Every leaf must lie under one of the policy's allowed paths; the rest (model, instructions, delegation,
standby, ``store``, the data channel's permissions, ``safety_identifier``) is the server's. The merged
session is checked against the SDK's ``MediaSessionConfigParam``: its types with pydantic, and its keys
by a walk over the TypedDicts (pydantic ignores unknown TypedDict keys; the real API rejects them).
"""

from __future__ import annotations

import copy
import functools
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import typing_extensions
from openai.types.live import MediaSessionConfigParam
from pydantic import TypeAdapter, ValidationError

from voxgate.errors import InvalidRequest

__all__ = ["LivePolicy"]

_SESSION = TypeAdapter(MediaSessionConfigParam)


def _leaves(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from _leaves(value, f"{path}.")
        else:
            yield path, value


@functools.cache
def _hints(tp: Any) -> dict[str, Any]:
    """A TypedDict's fields (resolving its string annotations is slow: once per type)."""
    return typing_extensions.get_type_hints(tp)


def _unknown_key(value: Any, tp: Any, path: str) -> str | None:
    """The dotted path of the first key ``tp`` (a TypedDict, possibly in a union or list) does not
    declare, or None."""
    # The SDK's TypedDicts are typing_extensions' (typing.is_typeddict does not know them).
    origin = typing_extensions.get_origin(tp)
    if origin in (typing.Union, typing_extensions.Required, typing_extensions.NotRequired, typing.Annotated):
        members = typing.get_args(tp)[:1] if origin is typing.Annotated else typing.get_args(tp)
        found = [_unknown_key(value, member, path) for member in members if _may_hold(member, value)]
        # The deepest miss names the member the value was meant for.
        return None if not found or any(f is None for f in found) else max(found, key=lambda f: len(f or ""))
    if typing_extensions.is_typeddict(tp):
        if not isinstance(value, Mapping):
            return path or None
        hints = _hints(tp)
        for key, child in value.items():
            if key not in hints:
                return f"{path}{key}"
            bad = _unknown_key(child, hints[key], f"{path}{key}.")
            if bad is not None:
                return bad
        return None
    if origin is not None and isinstance(value, list) and typing.get_args(tp):
        for index, item in enumerate(value):
            bad = _unknown_key(item, typing.get_args(tp)[0], f"{path.rstrip('.')}[{index}].")
            if bad is not None:
                return bad
    return None


def _may_hold(tp: Any, value: Any) -> bool:
    """Whether union member ``tp`` is one an object or list ``value`` is checked against."""
    origin = typing_extensions.get_origin(tp)
    if origin in (typing.Union, typing_extensions.Required, typing_extensions.NotRequired, typing.Annotated):
        return True
    if isinstance(value, Mapping):
        return typing_extensions.is_typeddict(tp)
    if isinstance(value, list):
        return origin is not None and origin is not typing.Literal
    return False


def check_live_session(session: Mapping[str, Any]) -> None:
    """Raise :class:`InvalidRequest` (``param`` at fault) unless ``session`` is a valid Live session."""
    try:
        _SESSION.validate_python(session)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        param = ".".join(["session", *(str(p) for p in first["loc"] if not str(p)[:1].isupper())])
        raise InvalidRequest(f"Invalid value for '{param}': {first['msg']}.", param=param) from None
    bad = _unknown_key(session, MediaSessionConfigParam, "session.")
    if bad is not None:
        raise InvalidRequest(f"Unknown parameter: '{bad}'.", code="unknown_parameter", param=bad)


def _selectors(events: Sequence[str] | str) -> list[dict[str, str]] | str:
    return events if isinstance(events, str) else [{"type": kind} for kind in events]


@dataclass(frozen=True, slots=True)
class LivePolicy:
    """Plain policy values; the web layer builds this from Settings."""

    model: str
    instructions: str
    voice: str
    allowed_voices: Sequence[str]
    delegation: Mapping[str, Any] | None = None
    idle_timeout_s: int | None = None
    wake_policy: Mapping[str, Any] | None = None
    store: bool = False
    allowed_client_events: Sequence[str] | str = ()
    allowed_server_events: Sequence[str] | str = ()
    client_overrides: Sequence[str] = field(default_factory=tuple)
    enabled: bool = True

    def base_session(self, safety_identifier: str | None) -> dict[str, Any]:
        """The Live session every call gets before client overrides."""
        session: dict[str, Any] = {
            "model": self.model,
            "instructions": self.instructions,
            "audio": {"output": {"voice": self.voice}},
            "client": {
                "data_channel": {
                    "allowed_client_events": (
                        self.allowed_client_events
                        if isinstance(self.allowed_client_events, str)
                        else list(self.allowed_client_events)
                    ),
                    "allowed_server_events": _selectors(self.allowed_server_events),
                }
            },
            "store": self.store,
        }
        if self.delegation is not None:
            session["delegation"] = copy.deepcopy(dict(self.delegation))
        if self.idle_timeout_s is not None:
            session["idle_timeout_s"] = self.idle_timeout_s
            session["wake_policy"] = copy.deepcopy(dict(self.wake_policy or {"type": "speech"}))
        if safety_identifier:
            session["safety_identifier"] = safety_identifier
        return session

    def _allowed(self, path: str) -> bool:
        return any(path == allowed or path.startswith(allowed + ".") for allowed in self.client_overrides)

    def build(self, overrides: Mapping[str, Any] | None, *, safety_identifier: str | None) -> dict[str, Any]:
        """The session to create: the policy with the client's allowed ``overrides`` applied.

        Raises :class:`InvalidRequest` naming the parameter for anything the client may not set.
        """
        if overrides is not None and not isinstance(overrides, Mapping):
            raise InvalidRequest("'session' must be an object.", param="session")
        session = self.base_session(safety_identifier)
        for path, value in _leaves(overrides or {}):
            if path == "model" and value == self.model:
                continue  # OpenAI's shape requires it; naming the policy's own model changes nothing
            if not self._allowed(path):
                raise InvalidRequest(
                    f"The session parameter '{path}' is set by the server and cannot be overridden.",
                    code="override_not_allowed",
                    param=f"session.{path}",
                )
            if path == "audio.output.voice" and value not in self.allowed_voices:
                raise InvalidRequest(
                    f"Voice {value!r} is not allowed; choose one of: {', '.join(self.allowed_voices)}.",
                    param="session.audio.output.voice",
                )
            node = session
            *parents, last = path.split(".")
            for part in parents:
                child = node.get(part)
                node = node.setdefault(part, {}) if not isinstance(child, dict) else child
            node[last] = value
        check_live_session(session)
        return session
