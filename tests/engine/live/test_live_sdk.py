"""GPT-Live against the engine with the official SDK, unmodified: a WebRTC session created with
``client.live.create`` and an aiortc offer, the primary WebSocket from ``session.start`` to
``session.closed``, and a sideband that sees the same session (with its audio) and closes it.

Turn-taking is the engine's voice pipeline with a loudness "VAD" and a scripted recognizer, so the
orderings are deterministic; every event is checked strictly (:mod:`tests.engine.live.live_kit`).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from openai import AsyncOpenAI

from tests.engine.live.live_kit import LiveReader, ScriptedMic
from tests.engine.voice.test_voice_observer import LoudnessVad, ScriptedRecognizer
from voxgate.engine.config import EngineConfig
from voxgate.engine.voice.observer import voice_observer_factory
from voxgate.testing.rtc import RtcClient
from voxgate.testing.server import TEST_API_KEY, EngineServer
from voxgate.testing.speech import rms, tone

MakeServer = Callable[..., Awaitable[EngineServer]]
CONSOLE_EVENTS = ["session.input_audio.mute", "session.input_audio.unmute"]
CONSOLE_SELECTORS = [
    {"type": t}
    for t in (
        "session.started",
        "session.input_transcript.delta",
        "session.output_transcript.delta",
        "session.usage.updated",
        "session.input_audio.muted",
        "session.input_audio.unmuted",
        "session.closed",
    )
]


@pytest.fixture
async def live(make_server: MakeServer) -> EngineServer:
    """An engine whose voice pipeline hears "hello there" in every loud turn; usage every second."""
    config = EngineConfig(api_keys=frozenset({TEST_API_KEY}), live_usage_interval_s=1.0)
    observer = voice_observer_factory(LoudnessVad, ScriptedRecognizer("hello there"))
    return await make_server(config, observer_factory=observer)


@pytest.fixture
async def sdk(live: EngineServer) -> AsyncIterator[AsyncOpenAI]:
    """The official SDK pointed at the engine, HTTP and WebSocket."""
    async with AsyncOpenAI(
        api_key=TEST_API_KEY, base_url=live.base_url, websocket_base_url=live.base_url.replace("http", "ws")
    ) as client:
        yield client


async def _dc_reader(rtc: RtcClient) -> LiveReader:
    inbox: asyncio.Queue[str] = asyncio.Queue()
    rtc.channel.on("message", inbox.put_nowait)
    return LiveReader(inbox.get, "data_channel")


async def test_webrtc_session_speaks_and_a_sideband_sees_it_and_closes_it(sdk: AsyncOpenAI) -> None:
    mic = ScriptedMic()
    rtc = RtcClient(mic=mic)
    dc = await _dc_reader(rtc)
    try:
        created = await sdk.live.create(
            session={
                "model": "gpt-live-1.1",
                "instructions": "Be brief.",
                "audio": {"output": {"voice": "marin"}},
                "client": {
                    "data_channel": {
                        "allowed_client_events": CONSOLE_EVENTS,
                        "allowed_server_events": CONSOLE_SELECTORS,  # type: ignore[typeddict-item]
                    }
                },
            },
            transport={"type": "webrtc", "sdp": await rtc.offer()},
        )
        assert created.session.id.startswith("live_")
        await rtc.connect(created.transport.sdp)
        started = await dc.until("session.started")
        assert started["session"]["id"] == created.session.id
        assert started["session"]["audio"] == {"output": {"voice": "marin"}}
        info = await dc.until("info")
        assert info["code"] == "data_channel_permissions"
        async with sdk.live.sideband.connect(session_id=created.session.id, graceful_close=True) as sideband:
            sb = LiveReader(sideband.recv_bytes, "sideband")
            assert (await sb.next())["type"] == "session.started"  # the replay
            mic.speaking = True
            await asyncio.sleep(0.8)
            mic.speaking = False
            heard = await dc.until("session.input_transcript.delta")
            said = await dc.until("session.output_transcript.delta")
            assert "hello" in heard["delta"] and heard["start_ms"] <= heard["end_ms"]
            assert said["start_ms"] >= heard["end_ms"]
            # The sideband saw the same turn, the caller's audio and the reply's audio.
            await sb.until("session.output_transcript.delta")
            reflected_in = [e for e in sb.seen if e["type"] == "session.input_audio.append"]
            assert reflected_in and max(rms(base64.b64decode(e["audio"])) for e in reflected_in) > 1000
            out = await sb.until("session.output_audio.delta")
            assert out["end_ms"] > out["start_ms"] >= said["start_ms"]
            await asyncio.sleep(1.0)
            assert rms(bytes(rtc.received_audio[-48000 * 2 :])) > 500  # the reply was heard
            # Usage: cumulative, advancing with the input audio.
            usage = [e["usage"] for e in dc.seen + sb.seen if e["type"] == "session.usage.updated"]
            assert usage and usage[-1]["seconds"] >= 1
            assert usage[-1]["active_seconds"] + usage[-1]["paused_seconds"] == usage[-1]["seconds"]
            # A client event outside the data channel's allow-list: the documented error, the call goes on.
            rtc.send({"type": "session.close", "event_id": "c_close"})
            refused = await dc.until("error")
            assert refused["error"]["code"] == "forbidden" and refused["client_event_id"] == "c_close"
            rtc.send({"type": "session.input_audio.mute", "event_id": "c_mute"})
            assert (await dc.until("session.input_audio.muted"))["client_event_id"] == "c_mute"
            # The sideband ends the session; both channels see why.
            await sideband.session.close()
            closed = await sb.until("session.closed")
            assert closed["reason"] == "close_requested" and closed["usage"]["seconds"] >= 1
            assert (await dc.until("session.closed"))["reason"] == "close_requested"
        assert not any(e["type"] == "session.output_audio.delta" for e in dc.seen)
    finally:
        await rtc.close()


async def test_websocket_primary_from_start_to_closed(sdk: AsyncOpenAI) -> None:
    async with sdk.live.connect() as conn:
        ws = LiveReader(conn.recv_bytes, "websocket")
        await conn.session.input_audio.append(audio=base64.b64encode(bytes(4800)).decode())
        early = await ws.until("error")  # nothing before session.start
        assert early["error"]["code"] == "session_not_started"
        await conn.session.start(
            session={"model": "gpt-live-1", "audio": {"format": {"type": "audio/pcm", "rate": 24000}}}
        )
        started = await ws.until("session.started")
        assert started["session"]["audio"]["format"] == {"type": "audio/pcm", "rate": 24000}
        assert started["session"]["audio"]["output"]["voice"] == "marin"

        async def stream() -> None:
            # 50 ms frames: silence, a loud turn, then silence for as long as the test listens.
            for chunk in [bytes(2400)] * 10 + [tone(50, amplitude=12000)] * 16:
                await conn.session.input_audio.append(audio=base64.b64encode(chunk).decode())
            while True:
                await conn.session.input_audio.append(audio=base64.b64encode(bytes(2400)).decode())
                await asyncio.sleep(0.02)

        streamer = asyncio.ensure_future(stream())
        try:
            await ws.until("session.input_transcript.delta")
            said = await ws.until("session.output_transcript.delta")
            deltas = [
                base64.b64decode(e["delta"]) for e in ws.seen if e["type"] == "session.output_audio.delta"
            ]
            assert deltas and all(len(d) == 4800 for d in deltas)  # one continuous track of 100 ms frames
            await ws.until("session.usage.updated")
            for _ in range(40):
                if (
                    rms(
                        b"".join(
                            base64.b64decode(e["delta"]) for e in ws.of("session.output_audio.delta")[-20:]
                        )
                    )
                    > 500
                ):
                    break
                await ws.next()
            else:
                pytest.fail(f"the reply {said['delta']!r} was never heard on the output track")
        finally:
            streamer.cancel()
            await asyncio.gather(streamer, return_exceptions=True)
        await conn.send({"type": "session.close", "event_id": "c_end"})
        closed = await ws.until("session.closed")
        assert closed["reason"] == "close_requested" and closed["client_event_id"] == "c_end"
        assert closed["usage"]["seconds"] >= 1 and "active_seconds" not in closed["usage"]
