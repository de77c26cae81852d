"""GPT-Live's rules at the engine's edge: a strict create body, keys and unknown sessions, the sideband's
own event set, a primary that drops (its sideband is told ``connection_lost``), the maximum duration,
standby (``idle_timeout_s`` + ``wake_policy``) and a G.711 WebSocket session."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import openai
import pytest
from openai import AsyncOpenAI
from websockets.exceptions import InvalidStatus

from tests.engine.live.live_kit import LiveReader, ScriptedMic
from tests.engine.voice.test_voice_observer import LoudnessVad, ScriptedRecognizer
from voxgate.engine.config import EngineConfig
from voxgate.engine.server.live_audio import encode_g711
from voxgate.engine.voice.observer import voice_observer_factory
from voxgate.testing.rtc import RtcClient
from voxgate.testing.server import TEST_API_KEY, EngineServer
from voxgate.testing.speech import tone

MakeServer = Callable[..., Awaitable[EngineServer]]


def _config(**fields: Any) -> EngineConfig:
    return EngineConfig(api_keys=frozenset({TEST_API_KEY}), live_usage_interval_s=1.0, **fields)


@pytest.fixture
async def live(make_server: MakeServer) -> EngineServer:
    observer = voice_observer_factory(LoudnessVad, ScriptedRecognizer("hello there"))
    return await make_server(_config(), observer_factory=observer)


def _sdk(server: EngineServer, key: str = TEST_API_KEY) -> AsyncOpenAI:
    ws = server.base_url.replace("http", "ws")
    return AsyncOpenAI(api_key=key, base_url=server.base_url, websocket_base_url=ws, max_retries=0)


@pytest.fixture
async def sdk(live: EngineServer) -> AsyncIterator[AsyncOpenAI]:
    async with _sdk(live) as client:
        yield client


async def test_the_create_body_is_strict(live: EngineServer, sdk: AsyncOpenAI) -> None:
    rtc = RtcClient()
    try:
        offer = await rtc.offer()
        cases: list[tuple[dict[str, Any], dict[str, Any], str, str | None]] = [
            ({"model": "gpt-live-1", "voice": "marin"}, {}, "unknown_parameter", "session.voice"),
            (
                {"model": "gpt-live-1", "audio": {"format": {"type": "audio/pcm", "rate": 24000}}},
                {},
                "unknown_parameter",
                "session.audio.format",
            ),
            (
                {"model": "gpt-live-1", "turn_detection": None},
                {},
                "unknown_parameter",
                "session.turn_detection",
            ),
            ({"model": "gpt-live-1"}, {"tools": []}, "unknown_parameter", "tools"),
            ({"model": "gpt-realtime"}, {}, "invalid_model", "session.model"),
            (
                {"model": "gpt-live-1", "audio": {"output": {"voice": "fable"}}},
                {},
                "forbidden",
                "session.audio.output.voice",
            ),
            (
                {"model": "gpt-live-1", "wake_policy": {"type": "speech", "vad_threshold": 2}},
                {},
                "invalid_value",
                "session.wake_policy.vad_threshold",
            ),
        ]
        for session, extra, code, param in cases:
            with pytest.raises(openai.BadRequestError) as refused:
                await sdk.live.create(
                    session=session,  # type: ignore[arg-type]
                    transport={"type": "webrtc", "sdp": offer},
                    extra_body=extra or None,
                )
            error = refused.value.body
            assert isinstance(error, dict) and (error["code"], error["param"]) == (code, param), error
            assert set(error) == {"type", "code", "message", "param"}
        assert not live.engine.live._calls  # nothing was built for a refused request
        async with httpx.AsyncClient(base_url=live.base_url) as http:
            auth = {"Authorization": f"Bearer {TEST_API_KEY}"}
            sdp_body = await http.post(
                "/live/sessions", content=offer, headers={**auth, "Content-Type": "application/sdp"}
            )
            assert sdp_body.status_code == 415
            empty = await http.post(
                "/live/sessions",
                json={"session": {"model": "gpt-live-1"}, "transport": {"type": "webrtc", "sdp": ""}},
                headers=auth,
            )
            assert empty.status_code == 400 and empty.json()["error"]["param"] == "transport.sdp"
            anonymous = await http.post("/live/sessions", json={}, headers={})
            assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "missing_api_key"
    finally:
        await rtc.close()


async def test_unknown_sessions_and_the_sideband_event_set(live: EngineServer, sdk: AsyncOpenAI) -> None:
    with pytest.raises(InvalidStatus) as unknown:
        async with sdk.live.sideband.connect(session_id="live_nope") as sideband:
            await sideband.recv()
    assert unknown.value.response.status_code == 404
    assert json.loads(unknown.value.response.body)["error"]["code"] == "session_not_found"
    async with sdk.live.connect() as conn:
        await conn.session.start(session={"model": "gpt-live-1"})
        ws = LiveReader(conn.recv_bytes, "websocket")
        started = await ws.until("session.started")
        async with sdk.live.sideband.connect(session_id=started["session"]["id"]) as sideband:
            sb = LiveReader(sideband.recv_bytes, "sideband")
            await sb.until("session.started")
            await sideband.send(
                {"type": "session.start", "event_id": "c_s", "session": {"model": "gpt-live-1"}}
            )  # type: ignore[arg-type]
            refused = await sb.until("error")
            assert refused["error"]["code"] == "invalid_event_type" and refused["client_event_id"] == "c_s"
            await sideband.send({"type": "response.create", "event_id": "c_r"})
            assert (await sb.until("error"))["error"][
                "message"
            ] == "response.create requires Responses delegation."
            await sideband.session.commentary.append(content="Two minutes left.", delegation_id=None)
            appended = await sb.until("session.commentary.appended")
            assert appended["start_ms"] == appended["end_ms"]
            await sideband.session.update(session={"delegation": {"type": "client"}})
            assert (await sb.until("session.updated"))["session"]["id"] == started["session"]["id"]
            await sideband.send(
                {
                    "type": "session.update",
                    "event_id": "c_u",
                    "session": {"delegation": {"type": "responses", "responses": {"model": "gpt-5"}}},
                }  # type: ignore[typeddict-item]
            )
            fixed = await sb.until("error")
            assert (fixed["error"]["param"], fixed["client_event_id"]) == ("session.delegation.type", "c_u")
        # Leaving a sideband only detaches it: the primary goes on.
        await conn.session.input_audio.mute()
        await ws.until("session.input_audio.muted")


async def test_a_dropped_primary_is_connection_lost_on_the_sideband(
    live: EngineServer, sdk: AsyncOpenAI
) -> None:
    conn = await sdk.live.connect().enter()
    await conn.session.start(session={"model": "gpt-live-1"})
    started = await LiveReader(conn.recv_bytes, "websocket").until("session.started")
    async with sdk.live.sideband.connect(session_id=started["session"]["id"]) as sideband:
        sb = LiveReader(sideband.recv_bytes, "sideband")
        await sb.until("session.started")
        await conn.close()
        closed = await sb.until("session.closed")
        assert closed["reason"] == "connection_lost"


async def test_the_maximum_duration_ends_a_session_expired(make_server: MakeServer) -> None:
    server = await make_server(_config(live_max_duration_s=1.0))
    async with _sdk(server) as sdk, sdk.live.connect() as conn:
        await conn.session.start(session={"model": "gpt-live-1"})
        ws = LiveReader(conn.recv_bytes, "websocket")
        started = await ws.until("session.started")
        assert abs(started["session"]["expires_at"] - time.time()) <= 2  # created one second before
        closed = await ws.until("session.closed", within=5)
        assert closed["reason"] == "expired"


async def test_standby_pauses_after_the_idle_timeout_and_speech_wakes_it(sdk: AsyncOpenAI) -> None:
    mic = ScriptedMic()
    rtc = RtcClient(mic=mic)
    try:
        created = await sdk.live.create(
            session={
                "model": "gpt-live-1.1",
                "idle_timeout_s": 1,
                "wake_policy": {"type": "speech", "vad_threshold": 0.6},
            },
            transport={"type": "webrtc", "sdp": await rtc.offer()},
        )
        inbox: asyncio.Queue[str] = asyncio.Queue()
        rtc.channel.on("message", inbox.put_nowait)
        dc = LiveReader(inbox.get, "data_channel")
        await rtc.connect(created.transport.sdp)
        await dc.until("session.started")
        await dc.until("session.paused", within=5)
        await asyncio.sleep(1.2)
        mic.speaking = True
        await dc.until("session.resumed", within=5)
        mic.speaking = False
        usage = (await dc.until("session.usage.updated"))["usage"]
        assert (
            usage["paused_seconds"] >= 1
            and usage["active_seconds"] + usage["paused_seconds"] == usage["seconds"]
        )
    finally:
        await rtc.close()


async def test_a_g711_websocket_session_hears_and_speaks_mulaw(sdk: AsyncOpenAI) -> None:
    async with sdk.live.connect() as conn:
        await conn.session.start(
            session={"model": "gpt-live-1", "audio": {"format": {"type": "audio/pcmu", "rate": 8000}}}
        )
        ws = LiveReader(conn.recv_bytes, "websocket")
        await ws.until("session.started")
        speech = encode_g711(tone(800, rate=8000, amplitude=12000), "audio/pcmu")
        silence = encode_g711(bytes(8000), "audio/pcmu")  # 500 ms

        async def stream() -> None:
            await conn.session.input_audio.append(audio=base64.b64encode(silence + speech).decode())
            while True:
                await conn.session.input_audio.append(audio=base64.b64encode(silence[:400]).decode())  # 50 ms
                await asyncio.sleep(0.02)

        streamer = asyncio.ensure_future(stream())
        try:
            assert "hello" in (await ws.until("session.input_transcript.delta"))["delta"]
            await ws.until("session.output_transcript.delta")
            frames = [base64.b64decode(e["delta"]) for e in ws.of("session.output_audio.delta")]
            # About 100 ms of 8 kHz µ-law each (the resampler's delay shifts a few samples between frames).
            assert frames and all(780 <= len(f) <= 820 for f in frames)
            assert abs(sum(map(len, frames)) - 800 * len(frames)) <= 800
        finally:
            streamer.cancel()
            await asyncio.gather(streamer, return_exceptions=True)


async def test_live_sessions_share_the_realtime_caps_and_can_be_hung_up(make_server: MakeServer) -> None:
    server = await make_server(_config(max_calls_per_key=1, max_sessions_per_key=1))
    first, second = RtcClient(), RtcClient()
    async with _sdk(server) as sdk:
        try:
            created = await sdk.live.create(
                session={"model": "gpt-live-1"}, transport={"type": "webrtc", "sdp": await first.offer()}
            )
            with pytest.raises(openai.RateLimitError) as refused:
                await sdk.live.create(
                    session={"model": "gpt-live-1"}, transport={"type": "webrtc", "sdp": await second.offer()}
                )
            assert refused.value.code == "too_many_calls"
            assert refused.value.response.headers["retry-after"]
            async with sdk.live.connect() as conn:
                await conn.session.start(session={"model": "gpt-live-1"})
                await LiveReader(conn.recv_bytes, "websocket").until("session.started")
                with pytest.raises(InvalidStatus) as busy:
                    async with sdk.live.connect() as again:
                        await again.recv()
                assert busy.value.response.status_code == 429
            await sdk.post(f"/live/sessions/{created.session.id}/hangup", cast_to=httpx.Response)
            with pytest.raises(InvalidStatus):  # it is gone
                async with sdk.live.sideband.connect(session_id=created.session.id) as sideband:
                    await sideband.recv()
        finally:
            await first.close()
            await second.close()


async def test_the_two_protocols_do_not_see_each_others_sessions(
    live: EngineServer, sdk: AsyncOpenAI
) -> None:
    realtime_caller, live_caller = RtcClient(), RtcClient()
    try:
        call_id = await live.call(realtime_caller)  # a GA Realtime call (rtc_…)
        with pytest.raises(InvalidStatus) as no_live_attach:
            async with sdk.live.sideband.connect(session_id=call_id) as sideband:
                await sideband.recv()
        assert no_live_attach.value.response.status_code == 404
        created = await sdk.live.create(
            session={"model": "gpt-live-1"}, transport={"type": "webrtc", "sdp": await live_caller.offer()}
        )
        with pytest.raises(InvalidStatus) as no_realtime_attach:
            async with sdk.realtime.connect(extra_query={"call_id": created.session.id}) as realtime:
                await realtime.recv()
        assert no_realtime_attach.value.response.status_code == 404
    finally:
        await realtime_caller.close()
        await live_caller.close()
