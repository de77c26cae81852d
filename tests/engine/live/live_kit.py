"""Strict readers of GPT-Live server events for the engine's Live tests, and a scripted microphone.

Every event read is validated as the SDK's Live server-event union, discriminated on ``type`` (the
primary WebSocket's ``ServerEvent``; sidebands and data channels the sideband's ``ConnectServerEvent``,
which adds the reflected audio and ``session.paused``/``resumed``), then walked for keys no official
model declares. Placement is checked too: reflected audio only on sidebands, raw audio with no id.
"""

from __future__ import annotations

import asyncio
import fractions
import json
import time
import typing
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame
from openai.types.live import ConnectServerEvent, ServerEvent
from pydantic import Field, TypeAdapter

from voxgate.protocol.strict import unknown_fields
from voxgate.testing.speech import tone

__all__ = ["LiveReader", "ScriptedMic", "check_live_event"]


def _tagged(union: Any) -> TypeAdapter[Any]:
    return TypeAdapter(Annotated[typing.get_args(union)[0], Field(discriminator="type")])


PRIMARY, SIDEBAND = _tagged(ServerEvent), _tagged(ConnectServerEvent)
RAW_AUDIO = {"session.output_audio.delta", "session.input_audio.append"}


def check_live_event(data: dict[str, Any], channel: str) -> Any:
    """Validate one server event for ``channel`` (``websocket``, ``data_channel`` or ``sideband``)."""
    adapter = PRIMARY if channel == "websocket" else SIDEBAND
    event = adapter.validate_python(data)
    extra = list(unknown_fields(event))
    assert not extra, f"{data['type']} has keys no official model declares: {extra}"
    kind = data["type"]
    if kind in RAW_AUDIO:
        assert "event_id" not in data, data
        assert kind != "session.input_audio.append" or channel == "sideband", "reflected input off a sideband"
        assert channel != "data_channel", "audio events on the data channel"
        if channel == "sideband":
            assert "start_ms" in data or kind == "session.input_audio.append", (
                "reflected output without times"
            )
    else:
        assert data["event_id"].startswith("event_"), data
    if kind == "error":
        assert isinstance(data["error"]["code"], str)
    return event


class LiveReader:
    """Reads raw frames from ``source``, checks each for ``channel`` and keeps them all."""

    def __init__(self, source: Callable[[], Awaitable[str | bytes]], channel: str) -> None:
        self._source = source
        self.channel = channel
        self.seen: list[dict[str, Any]] = []

    async def next(self, within: float = 10.0) -> dict[str, Any]:
        """The next event, checked."""
        raw = await asyncio.wait_for(self._source(), within)
        data = json.loads(raw)
        check_live_event(data, self.channel)
        self.seen.append(data)
        return data

    async def until(self, kind: str, within: float = 15.0, **match: Any) -> dict[str, Any]:
        """Read until an event of ``kind`` (with ``match``'s fields) arrives."""
        deadline = time.monotonic() + within
        while True:
            event = await self.next(max(0.01, deadline - time.monotonic()))
            if event["type"] == kind and all(event.get(k) == v for k, v in match.items()):
                return event

    def of(self, kind: str) -> list[dict[str, Any]]:
        """The events of ``kind`` seen so far."""
        return [e for e in self.seen if e["type"] == kind]


class ScriptedMic(MediaStreamTrack):
    """A microphone in real time: silence, or a loud tone while :attr:`speaking` is set."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.speaking = False
        self._pts = 0
        self._start: float | None = None
        self._loud = tone(20, rate=48000, amplitude=12000)

    async def recv(self) -> AudioFrame:
        """The next 20 ms frame, not before its time."""
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._pts += 960
            await asyncio.sleep(max(0.0, self._start + self._pts / 48000 - time.monotonic()))
        frame = AudioFrame(format="s16", layout="mono", samples=960)
        frame.planes[0].update(self._loud if self.speaking else bytes(1920))
        frame.sample_rate = 48000
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, 48000)
        return frame
