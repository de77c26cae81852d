"""GPT-Live through voxgate's relay to the real local engine standing in for OpenAI.

The official SDK, unmodified and pointed at voxgate (``base_url=…/api``), creates the session with
``client.live.create`` and an aiortc offer; voxgate builds the session from its Live policy, creates it
upstream with the server's key, answers with its own call id, and watches it through the sideband.
Nothing but the sideband fills the ledger. Turn-taking is the engine's voice pipeline with a loudness
"VAD" and a scripted recognizer, so the words are known.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import httpx2
import openai
import pytest
from openai import AsyncOpenAI

from tests.engine.live.live_kit import LiveReader, ScriptedMic
from tests.engine.voice.test_voice_observer import LoudnessVad, ScriptedRecognizer
from voxgate.core.live_cost import LIVE_USAGE_ID
from voxgate.engine.config import EngineConfig
from voxgate.engine.voice.observer import voice_observer_factory
from voxgate.errors import UpstreamUnreachable
from voxgate.testing.rtc import RtcClient
from voxgate.testing.server import TEST_API_KEY, EngineServer

MakeServer = Callable[..., Awaitable[EngineServer]]


async def eventually(check: Callable[[], Awaitable[Any]], within: float = 20.0) -> Any:
    """Poll ``check`` until it returns something truthy (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = await check()
        if result or loop.time() > deadline:
            return result
        await asyncio.sleep(0.05)


@pytest.fixture
async def live_gateway(
    gateway_factory: Any, make_server: MakeServer
) -> AsyncIterator[tuple[Any, EngineServer]]:
    """voxgate in front of an engine that hears "hello there" in every loud turn; usage every second."""
    config = EngineConfig(api_keys=frozenset({TEST_API_KEY}), live_usage_interval_s=1.0)
    engine = await make_server(
        config, observer_factory=voice_observer_factory(LoudnessVad, ScriptedRecognizer("hello there"))
    )
    async with gateway_factory(
        upstream_url=engine.base_url, OPENAI_API_KEY=TEST_API_KEY, console_mode="relay"
    ) as gw:
        yield gw, engine


@asynccontextmanager
async def sdk_at_voxgate(gw: Any, key: str) -> AsyncIterator[AsyncOpenAI]:
    """The official SDK with voxgate's URL in place of OpenAI's, and a voxgate key in place of OpenAI's."""
    transport = httpx2.ASGITransport(app=gw.app)
    async with (
        httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http,
        AsyncOpenAI(api_key=key, base_url="http://testserver/api", http_client=http, max_retries=0) as client,
    ):
        yield client


async def dc_reader(rtc: RtcClient) -> LiveReader:
    inbox: asyncio.Queue[str] = asyncio.Queue()
    rtc.channel.on("message", inbox.put_nowait)
    return LiveReader(inbox.get, "data_channel")


async def speak(mic: ScriptedMic, seconds: float = 0.8) -> None:
    mic.speaking = True
    await asyncio.sleep(seconds)
    mic.speaking = False


async def test_a_live_call_through_the_relay_is_watched_recorded_and_closed(
    live_gateway: tuple[Any, EngineServer],
) -> None:
    gw, engine = live_gateway
    user, key = await gw.user_with_key()
    mic = ScriptedMic()
    rtc = RtcClient(mic=mic)
    dc = await dc_reader(rtc)
    try:
        async with sdk_at_voxgate(gw, key) as client:
            raw = await client.live.with_raw_response.create(
                session={"model": "gpt-live-1.1", "audio": {"output": {"voice": "cedar"}}},
                transport={"type": "webrtc", "sdp": await rtc.offer()},
            )
        created = raw.parse()
        assert raw.http_response.status_code == 201
        call_id = created.session.id
        assert call_id.startswith("vgc_") and "location" not in raw.headers
        # No upstream credential, session id or URL reaches the client.
        for leaked in (TEST_API_KEY, engine.base_url, f"127.0.0.1:{engine.port}", "live_"):
            assert leaked not in raw.http_response.text and leaked not in str(raw.headers)
        call = await gw.services.ledger.get_call(call_id)
        assert (call.api, call.mode, call.user_id, call.model, call.voice) == (
            "live",
            "relay",
            user.id,
            "gpt-live-1.1",
            "cedar",
        )
        # Recorded with the answer: the 15 s the upstream bills at creation.
        detail = await gw.services.ledger.call_detail(call_id)
        assert detail.summary.cost_usd == Decimal("0.0125")
        assert await eventually(lambda: _watching(gw, call_id), 1.0), "the sideband attached within 1 s"

        await rtc.connect(created.transport.sdp)
        started = (await dc.until("session.started"))["session"]
        # The session is the policy's: the user's voice choice, least privilege on the data channel.
        assert started["model"] == "gpt-live-1.1" and started["audio"]["output"]["voice"] == "cedar"
        assert started["client"]["data_channel"]["allowed_client_events"] == [
            "session.input_audio.mute",
            "session.input_audio.unmute",
        ]
        assert started["safety_identifier"] and started["store"] is False
        await speak(mic)
        heard = await dc.until("session.input_transcript.delta")
        said = await dc.until("session.output_transcript.delta")
        assert "hello" in heard["delta"]

        # A browser event outside its allow-list: the documented error, and the call goes on.
        rtc.send({"type": "session.close", "event_id": "c_close"})
        refused = await dc.until("error")
        assert refused["error"]["code"] == "forbidden" and refused["client_event_id"] == "c_close"
        rtc.send({"type": "session.input_audio.mute", "event_id": "c_mute"})
        assert (await dc.until("session.input_audio.muted"))["client_event_id"] == "c_mute"
        rtc.send({"type": "session.input_audio.unmute", "event_id": "c_unmute"})
        await dc.until("session.input_audio.unmuted")

        async def transcribed() -> Any:
            found = await gw.services.ledger.call_detail(call_id)
            texts = [(i.role, i.text) for i in found.items] if found else []
            return found if any(r == "assistant" and t for r, t in texts) else None

        detail = await eventually(transcribed)
        roles = [item.role for item in detail.items]
        assert roles[:2] == ["user", "assistant"]
        assert "hello" in (detail.items[0].text or "")
        assert said["delta"].strip() and said["delta"].strip() in (detail.items[1].text or "")

        # voxgate hangs up: session.close on its sideband; the close is recorded with the final usage.
        hung = await gw.client.post(
            f"/api/calls/{call_id}/hangup", headers={"Authorization": f"Bearer {key}"}
        )
        assert hung.status_code in (200, 204), hung.text
        closed = await dc.until("session.closed")
        assert closed["reason"] == "close_requested"

        async def finished() -> Any:
            found = await gw.services.ledger.call_detail(call_id)
            usage = [r for r in found.responses if r.response_id == LIVE_USAGE_ID] if found else []
            return found if usage and usage[0].status == "completed" else None

        final = await eventually(finished, 10.0)
        assert final.summary.call.end_reason == "hangup"
        [usage] = final.responses
        assert usage.usage["seconds"] == closed["usage"]["seconds"]  # the final usage as sent, never summed
        seconds = max(15, closed["usage"]["seconds"])
        assert final.summary.cost_usd == (Decimal(seconds) * Decimal("0.05") / 60).quantize(Decimal("1e-10"))
    finally:
        await rtc.close()


async def _watching(gw: Any, call_id: str) -> bool:
    return call_id in gw.services.supervisor.watching


async def test_a_browser_that_leaves_ends_the_call_with_its_reason(
    live_gateway: tuple[Any, EngineServer],
) -> None:
    gw, _ = live_gateway
    _, key = await gw.user_with_key()
    rtc = RtcClient(mic=ScriptedMic())
    dc = await dc_reader(rtc)
    body = {"session": {"model": "gpt-live-1.1"}, "transport": {"type": "webrtc", "sdp": await rtc.offer()}}
    answered = await gw.client.post(
        "/api/live/sessions", json=body, headers={"Authorization": f"Bearer {key}"}
    )
    assert answered.status_code == 201, answered.text
    call_id = answered.json()["session"]["id"]
    await rtc.connect(answered.json()["transport"]["sdp"])
    await dc.until("session.started")
    await rtc.close()

    async def ended() -> Any:
        record = await gw.services.ledger.get_call(call_id)
        return record if record and not record.live else None

    record = await eventually(ended, 20.0)
    assert record is not None and record.end_reason == "connection_lost"


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"session": {"model": "gpt-live-1.1", "instructions": "x"}}, 400, "session.instructions"),
        ({"session": {"model": "gpt-live-1"}}, 400, "session.model"),
        ({"session": {"model": "gpt-live-1.1", "audio": {"output": {"voice": "nova"}}}}, 400,
         "session.audio.output.voice"),
        ({"session": {"model": "gpt-live-1.1", "client": {"data_channel": {"allowed_client_events": "all"}}}},
         400, "session.client.data_channel.allowed_client_events"),
        ({"session": {}, "transport": {"type": "webrtc", "sdp": "v=0"}, "extra": 1}, 400, "extra"),
        ({"session": {}, "transport": {"type": "sip", "sdp": "v=0"}}, 400, "transport.type"),
    ],
)  # fmt: skip
async def test_what_a_client_may_not_choose_is_refused_in_openai_shape(
    live_gateway: tuple[Any, EngineServer], body: dict[str, Any], status: int, param: str
) -> None:
    gw, engine = live_gateway
    _, key = await gw.user_with_key()
    body.setdefault("transport", {"type": "webrtc", "sdp": "v=0\r\n"})
    refused = await gw.client.post(
        "/api/live/sessions", json=body, headers={"Authorization": f"Bearer {key}"}
    )
    assert refused.status_code == status, refused.text
    error = refused.json()["error"]
    assert set(error) == {"type", "code", "message", "param"} and error["param"] == param
    assert not engine.engine.live._calls  # nothing was created upstream


async def test_the_sdk_sees_voxgate_errors_as_openai_errors(live_gateway: tuple[Any, EngineServer]) -> None:
    gw, _ = live_gateway
    async with sdk_at_voxgate(gw, "vg_not_a_key") as client:
        with pytest.raises(openai.AuthenticationError):
            await client.live.create(
                session={"model": "gpt-live-1.1"}, transport={"type": "webrtc", "sdp": "v=0"}
            )
    # A bad offer is the caller's fault: a 400 on the SDP, not a 5xx.
    _, key = await gw.user_with_key()
    async with sdk_at_voxgate(gw, key) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.live.create(
                session={"model": "gpt-live-1.1"}, transport={"type": "webrtc", "sdp": "v=0"}
            )
    assert json.dumps(caught.value.body).count(TEST_API_KEY) == 0


async def test_a_live_call_voxgate_cannot_watch_is_hung_up_with_its_reason(
    gateway_factory: Any, make_server: MakeServer
) -> None:
    engine = await make_server(EngineConfig(api_keys=frozenset({TEST_API_KEY})))
    async with gateway_factory(
        upstream_url=engine.base_url,
        OPENAI_API_KEY=TEST_API_KEY,
        console_mode="relay",
        supervisor={"attach_timeout_s": 1.0},
    ) as gw:
        live = gw.services.live_upstream

        @asynccontextmanager
        async def refused(session_id: str) -> AsyncIterator[Any]:
            raise UpstreamUnreachable("forced: no sideband")
            yield  # an async generator, as the real one

        live.sideband = refused  # the sideband cannot be attached (nor opened to send session.close)
        _, key = await gw.user_with_key()
        rtc = RtcClient(mic=ScriptedMic())
        dc = await dc_reader(rtc)
        try:
            body = {
                "session": {"model": "gpt-live-1.1"},
                "transport": {"type": "webrtc", "sdp": await rtc.offer()},
            }
            answered = await gw.client.post(
                "/api/live/sessions", json=body, headers={"Authorization": f"Bearer {key}"}
            )
            assert answered.status_code == 201, answered.text
            call_id = answered.json()["session"]["id"]
            await rtc.connect(answered.json()["transport"]["sdp"])
            await dc.until("session.started")
            # Within the attach deadline (1 s here, 5 s by default) plus its last try, the call is ended.
            closed = await dc.until("session.closed", within=5.0)
            assert closed["reason"] == "close_requested"
            record = await gw.services.ledger.get_call(call_id)
            assert record is not None and record.end_reason == "unwatchable"

            async def gone() -> bool:
                return not engine.engine.live._calls

            assert await eventually(gone, 5.0), "the engine ended the session"
        finally:
            await rtc.close()
