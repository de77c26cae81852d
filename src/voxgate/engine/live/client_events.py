"""Client events of a Live session, parsed once at the boundary with the SDK's own unions.

Three channels accept different sets (reference §5.1): the primary WebSocket takes ``ClientEvent``, a
sideband ``ConnectClientEvent`` (no ``session.start``, no audio appends, plus ``transport.dtmf.send``), and a
WebRTC data channel the primary set minus ``session.start``, audio appends (audio is on the RTP track)
and fixtures. An event of another type gets an ``error`` listing the supported ones; unknown keys get
``unknown_parameter``, like every request; the appends' ``delegation_id`` key is required (nullable),
which only the SDK's Param types say.
"""

from __future__ import annotations

import json
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Literal, cast

from openai.types.live import ClientEvent, ConnectClientEvent
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from voxgate.errors import InvalidRequest
from voxgate.protocol.strict import unknown_fields

__all__ = ["Channel", "ClientEventError", "ParsedEvent", "parse_client_event"]

Channel = Literal["websocket", "data_channel", "sideband"]


def _tagged(union: Any) -> TypeAdapter[Any]:
    # The SDK's PropertyInfo(discriminator=) is its own metadata; pydantic needs a Field discriminator.
    return TypeAdapter(cast(Any, Annotated[typing.get_args(union)[0], Field(discriminator="type")]))


def _types(union: Any) -> frozenset[str]:
    members = typing.get_args(typing.get_args(union)[0])
    return frozenset(typing.get_args(m.model_fields["type"].annotation)[0] for m in members)


_ADAPTERS = {"primary": _tagged(ClientEvent), "sideband": _tagged(ConnectClientEvent)}
_ALLOWED: dict[Channel, frozenset[str]] = {
    "websocket": _types(ClientEvent),
    "sideband": _types(ConnectClientEvent),
    "data_channel": _types(ClientEvent)
    - {"session.start", "session.input_audio.append", "session.output_audio.fixture.play"},
}
_NEEDS_DELEGATION_ID = frozenset(
    {"session.instructions.append", "session.thinking.append", "session.commentary.append"}
)


class ClientEventError(InvalidRequest):
    """A client event that cannot be handled; ``event_id`` is the client's id for it, when known."""

    def __init__(self, error: InvalidRequest, event_id: str | None) -> None:
        super().__init__(error.message, code=error.code, param=error.param)
        self.event_id = event_id


@dataclass(frozen=True, slots=True)
class ParsedEvent:
    """One validated client event: its official model and the raw payload."""

    model: BaseModel
    payload: dict[str, Any]

    @property
    def type(self) -> str:
        """The event type."""
        return str(self.payload["type"])

    @property
    def event_id(self) -> str | None:
        """The client's ``event_id``, if it sent one."""
        value = self.payload.get("event_id")
        return value if isinstance(value, str) else None


def parse_client_event(raw: str | bytes, channel: Channel) -> ParsedEvent:
    """Validate one client message for ``channel``; raises :class:`ClientEventError`."""
    try:
        payload = json.loads(raw)
    except ValueError:
        raise ClientEventError(
            InvalidRequest("The client event is not valid JSON.", code="invalid_json"), None
        ) from None
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        raise ClientEventError(
            InvalidRequest("A client event must be a JSON object with a 'type'.", param="type"), None
        )
    event_id = payload.get("event_id") if isinstance(payload.get("event_id"), str) else None
    allowed = _ALLOWED[channel]
    if payload["type"] not in allowed:
        where = {
            "websocket": "the primary WebSocket",
            "sideband": "a sideband",
            "data_channel": "the data channel",
        }
        raise ClientEventError(
            InvalidRequest(
                f"Invalid client event type '{payload['type']}' on {where[channel]}. "
                f"Supported client events: {', '.join(sorted(allowed))}.",
                code="invalid_event_type",
                param="type",
            ),
            event_id,
        )
    adapter = _ADAPTERS["sideband" if channel == "sideband" else "primary"]
    try:
        model = adapter.validate_python(payload)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        param = ".".join(str(p) for p in first["loc"][1:]) or "type"
        raise ClientEventError(
            InvalidRequest(f"Invalid value for '{param}': {first['msg']}.", param=param), event_id
        ) from None
    for path in unknown_fields(model):
        raise ClientEventError(
            InvalidRequest(f"Unknown parameter: '{path}'.", code="unknown_parameter", param=path), event_id
        )
    if payload["type"] in _NEEDS_DELEGATION_ID and "delegation_id" not in payload:
        raise ClientEventError(
            InvalidRequest(
                "Missing required parameter: 'delegation_id' (null when not for a delegation).",
                code="missing_required_parameter",
                param="delegation_id",
            ),
            event_id,
        )
    return ParsedEvent(model, payload)
