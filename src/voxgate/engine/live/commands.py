"""What a Live session does with each client event, once it is parsed (reference §5.1).

Mute and unmute stop what the model hears (not the reflection, not the billing) and are acknowledged;
``instructions``/``thinking``/``commentary`` appends are placed on the timeline and acknowledged
(commentary is spoken: how a gateway warns a caller); a fixture is played on the output and reported
``playing`` then ``played``; ``session.update`` may change only delegation and triggers, and with client
delegation there is nothing to change, so it answers with the unchanged resource; ``session.close`` ends
the session. ``response.*`` and ``decision.*`` need a delegation the engine does not run, and DTMF a SIP
call: each gets an ``error``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Protocol

from voxgate.engine.live.client_events import ParsedEvent
from voxgate.engine.live.events import live_event
from voxgate.errors import InvalidRequest

__all__ = ["CommandTarget", "run_command"]

FIXTURE_MAX_MS = 30_000
_APPENDS = ("session.instructions.append", "session.thinking.append", "session.commentary.append")


class CommandTarget(Protocol):
    """The session, as the commands see it."""

    muted: bool
    max_append_bytes: int

    def now_ms(self) -> int:
        """The timeline's position."""
        ...

    def send(self, event: dict[str, Any]) -> None:
        """An event to every channel."""
        ...

    def feed_input_audio(self, audio: bytes) -> None:
        """Input audio in the session's format."""
        ...

    def say(self, text: str) -> None:
        """Speak ``text`` (commentary)."""
        ...

    def add_instructions(self, text: str) -> None:
        """More context for the replies."""
        ...

    def play_fixture(self, pcm16_24k: bytes, client_event_id: str | None) -> None:
        """Play a clip; report ``played`` when it has gone out."""
        ...

    def resource(self) -> dict[str, Any]:
        """The session resource."""
        ...

    async def close(self, reason: str, client_event_id: str | None = None) -> None:
        """End the session."""
        ...


def _decode(audio: str) -> bytes:
    try:
        return base64.b64decode(audio, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest("Invalid 'audio': expected base64-encoded audio.", param="audio") from None


async def run_command(target: CommandTarget, event: ParsedEvent) -> None:
    """Carry out one validated client event; protocol refusals raise ``InvalidRequest``."""
    kind, payload, client_id = event.type, event.payload, event.event_id
    if kind == "session.input_audio.append":
        audio = _decode(payload["audio"])
        if len(audio) > target.max_append_bytes:
            raise InvalidRequest(
                f"An append carries at most {target.max_append_bytes} bytes of audio.", param="audio"
            )
        target.feed_input_audio(audio)
    elif kind in ("session.input_audio.mute", "session.input_audio.unmute"):
        target.muted = kind == "session.input_audio.mute"
        target.send(live_event(f"{kind}d", client_id))
    elif kind in _APPENDS:
        if kind == "session.commentary.append":
            target.say(str(payload["content"]))
        elif kind == "session.instructions.append":
            target.add_instructions(str(payload["content"]))
        now = target.now_ms()
        target.send(live_event(kind.replace(".append", ".appended"), client_id, start_ms=now, end_ms=now))
    elif kind == "session.output_audio.fixture.play":
        pcm = _decode(payload["audio"])
        if len(pcm) > FIXTURE_MAX_MS * 48:
            raise InvalidRequest("A fixture is at most 30 seconds of audio.", param="audio")
        target.send(live_event("session.output_audio.fixture.playing", client_id))
        target.play_fixture(pcm[: len(pcm) - len(pcm) % 2], client_id)
    elif kind == "session.update":
        delegation = (payload.get("session") or {}).get("delegation")
        if delegation is not None and delegation.get("type") != "client":
            raise InvalidRequest(
                "The delegation type is fixed for the session ('client').",
                code="invalid_value",
                param="session.delegation.type",
            )
        target.send(live_event("session.updated", client_id, session=target.resource()))
    elif kind == "session.close":
        await target.close("close_requested", client_id)
    elif kind == "session.start":
        raise InvalidRequest("The session has already started.", code="session_already_started")
    elif kind in ("response.create", "response.item.create"):
        raise InvalidRequest(f"{kind} requires Responses delegation.", code="delegation_required")
    elif kind.startswith("decision."):
        raise InvalidRequest(f"{kind} requires Decisions delegation.", code="delegation_required")
    else:  # transport.dtmf.send
        raise InvalidRequest(f"{kind} applies only to SIP sessions.", code="not_a_sip_session")
