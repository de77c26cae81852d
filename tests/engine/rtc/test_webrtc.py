"""WebRTC calls: the official SDK posts a real aiortc offer; events flow on ``oai-events``; a sideband
WebSocket (``connect(call_id=...)``) sees the same events; audio goes over the track."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import Awaitable, Callable

import httpx
import pytest
from openai import AsyncOpenAI

from tests.engine.conftest import API_KEY, EngineServer, serve_engine
from tests.engine.realtime_kit import RtcClient, ToneTrack, rms, sdk_reader
from voxgate.engine.config import EngineConfig

MakeServer = Callable[..., Awaitable[EngineServer]]
USER_TEXT = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}


async def start_call(client: AsyncOpenAI, rtc: RtcClient, session: dict[str, object] | None = None) -> str:
    """POST the offer with the SDK (multipart when a session is given), connect, return the call id."""
    offer = await rtc.offer()
    if session is None:
        raw = await client.realtime.calls.with_raw_response.create(sdp=offer)
    else:
        raw = await client.realtime.calls.with_raw_response.create(sdp=offer, session=session)  # type: ignore[arg-type]
    assert raw.status_code == 201
    assert raw.headers["content-type"].startswith("application/sdp")
    location = raw.headers["location"]
    assert re.fullmatch(r"/v1/realtime/calls/rtc_[0-9a-f]{32}", location)
    answer = raw.http_response.text
    assert "a=rtpmap:" in answer and "opus/48000/2" in answer and "G722" not in answer
    assert "webrtc-datachannel" in answer and "a=candidate:" in answer
    await rtc.connect(answer)
    return location.split("/")[-1]


async def wait_for(predicate: Callable[[], bool], within: float = 5.0) -> None:
    """Poll engine/peer state that has no event to wait on."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - polling state owned by other libraries
            await asyncio.sleep(0.02)


async def test_text_call_with_sideband_and_hangup(server: EngineServer, client: AsyncOpenAI) -> None:
    rtc = RtcClient()
    try:
        call_id = await start_call(
            client,
            rtc,
            {
                "type": "realtime",
                "model": "gpt-realtime",
                "instructions": "Hi.",
                "output_modalities": ["text"],
            },
        )
        session = (await rtc.events.expect("session.created"))["session"]
        assert session["instructions"] == "Hi." and session["output_modalities"] == ["text"]

        async with client.realtime.connect(call_id=call_id) as side:
            sideband = sdk_reader(side)
            rtc.send({"type": "session.update", "session": {"type": "realtime", "tracing": "auto"}})
            assert (await rtc.events.expect("session.updated"))["session"]["id"] == session["id"]
            await sideband.expect("session.updated")

            rtc.send({"type": "conversation.item.create", "item": USER_TEXT})
            rtc.send({"type": "response.create"})
            on_channel = await rtc.events.until("rate_limits.updated")
            on_side = await sideband.until("rate_limits.updated")
            assert [e["event_id"] for e in on_side] == [e["event_id"] for e in on_channel]
            assert on_channel[-2]["response"]["output"][0]["content"][0]["text"].startswith(
                'You said: "hello"'
            )

            # The sideband is a control channel too: its events reach the same session.
            await side.conversation.item.retrieve(item_id=on_channel[0]["item"]["id"])
            assert (await sideband.expect("conversation.item.retrieved"))["item"]["role"] == "user"
            await rtc.events.expect("conversation.item.retrieved")

            await client.realtime.calls.hangup(call_id)
            await wait_for(lambda: rtc.pc.connectionState == "closed" and not server.engine._calls)
            with pytest.raises(Exception):  # noqa: B017, PT011 - the SDK's connection-closed error
                await side.recv_bytes()
    finally:
        await rtc.close()


async def test_bad_events_on_the_data_channel(client: AsyncOpenAI) -> None:
    rtc = RtcClient()
    try:
        await start_call(client, rtc)
        await rtc.events.expect("session.created")
        rtc.send("{oops")
        assert (await rtc.events.expect("error"))["error"]["code"] == "invalid_json"
        rtc.send({"type": "session.create", "event_id": "c1"})
        error = (await rtc.events.expect("error"))["error"]
        assert (error["param"], error["event_id"]) == ("type", "c1")
        rtc.send({"type": "session.update", "session": {"type": "realtime", "input_audio_format": "pcm16"}})
        assert (await rtc.events.expect("error"))["error"]["param"] == "session.input_audio_format"
        rtc.send({"type": "output_audio_buffer.clear"})  # nothing has played yet
        await rtc.events.expect("error")
        rtc.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}})
        await rtc.events.expect("session.updated")
    finally:
        await rtc.close()


async def test_voice_goes_over_the_track(server: EngineServer, client: AsyncOpenAI) -> None:
    rtc = RtcClient(mic=ToneTrack())
    try:
        await start_call(client, rtc)
        await rtc.events.expect("session.created")
        # The mic audio reaches the input buffer: after a moment a manual commit succeeds.
        await asyncio.sleep(0.3)
        rtc.send({"type": "input_audio_buffer.commit"})
        committed = await rtc.events.expect("input_audio_buffer.committed")
        await rtc.events.until("conversation.item.done")
        rtc.send({"type": "conversation.item.retrieve", "item_id": committed["item_id"]})
        heard = (await rtc.events.expect("conversation.item.retrieved"))["item"]["content"][0]["audio"]
        mic = base64.b64decode(heard)
        assert len(mic) >= 100 * 48 and rms(mic[len(mic) // 2 :]) > 500  # the tone, decoded and resampled

        rtc.send({"type": "conversation.item.create", "item": USER_TEXT})
        await rtc.events.until("conversation.item.done")
        silence_before = rms(bytes(rtc.received_audio[-48000:]))
        rtc.send({"type": "response.create"})
        sequence = await rtc.events.until("output_audio_buffer.stopped", within=10)
        types = [e["type"] for e in sequence]
        assert "response.output_audio.delta" not in types  # audio goes over RTP, not the channel
        assert types.index("response.content_part.added") < types.index("output_audio_buffer.started")
        assert types.index("response.done") < types.index("output_audio_buffer.stopped")
        response_id = sequence[0]["response"]["id"]
        assert sequence[-1]["response_id"] == response_id
        done = next(e for e in sequence if e["type"] == "response.done")["response"]
        assert done["usage"]["output_token_details"]["audio_tokens"] > 0
        assert silence_before < 50 and rms(bytes(rtc.received_audio[-48000:])) > 500
    finally:
        await rtc.close()


async def test_playback_clear_silences_the_track(client: AsyncOpenAI) -> None:
    rtc = RtcClient()
    try:
        await start_call(client, rtc)
        await rtc.events.expect("session.created")
        words = " ".join(["word"] * 30)
        rtc.send(
            {
                "type": "conversation.item.create",
                "item": {**USER_TEXT, "content": [{"type": "input_text", "text": words}]},
            }
        )
        rtc.send({"type": "response.create"})
        sequence = await rtc.events.until("response.done")  # generated; ~3 s of audio still playing
        started = next(e for e in sequence if e["type"] == "output_audio_buffer.started")
        await rtc.events.expect("rate_limits.updated")
        await wait_for(lambda: rms(bytes(rtc.received_audio[-4800:])) > 500)
        rtc.send({"type": "output_audio_buffer.clear"})
        cleared = await rtc.events.expect("output_audio_buffer.cleared")
        assert cleared["response_id"] == started["response_id"]
        await rtc.events.nothing(0.3)  # no `stopped` after a clear
        assert rms(bytes(rtc.received_audio[-4800:])) < 50  # and the track fell silent
    finally:
        await rtc.close()


async def test_call_request_shapes_and_refusals(server: EngineServer, client: AsyncOpenAI) -> None:
    auth = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(base_url=server.url) as http:
        bad = await http.post(
            "/v1/realtime/calls", content="hello", headers={**auth, "Content-Type": "application/sdp"}
        )
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "sdp"
        broken = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
        bad = await http.post(
            "/v1/realtime/calls", content=broken, headers={**auth, "Content-Type": "application/sdp"}
        )
        assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"
        wrong = await http.post(
            "/v1/realtime/calls", content="v=0", headers={**auth, "Content-Type": "text/plain"}
        )
        assert wrong.status_code == 415 and wrong.json()["error"]["code"] == "unsupported_media_type"
        missing = await http.post("/v1/realtime/calls", files={"session": (None, "{}")}, headers=auth)
        assert missing.status_code == 400 and missing.json()["error"]["param"] == "sdp"
        extra = await http.post(
            "/v1/realtime/calls", files={"sdp": (None, "v=0"), "model": (None, "x")}, headers=auth
        )
        assert extra.status_code == 400 and extra.json()["error"]["code"] == "unknown_parameter"
        bad_session = await http.post(
            "/v1/realtime/calls",
            files={"sdp": (None, "v=0"), "session": (None, json.dumps({"type": "realtime", "voice": "ash"}))},
            headers=auth,
        )
        assert bad_session.json()["error"]["param"] == "session.voice"
        assert not server.engine._calls

        # openai-python 2.x sent JSON {sdp, session}: tolerated.
        rtc = RtcClient()
        try:
            offer = await rtc.offer()
            answer = await http.post(
                "/v1/realtime/calls",
                json={"sdp": offer, "session": {"type": "realtime", "output_modalities": ["text"]}},
                headers=auth,
            )
            assert answer.status_code == 201
            await rtc.connect(answer.text)
            created = await rtc.events.expect("session.created")
            assert created["session"]["output_modalities"] == ["text"]
        finally:
            await rtc.close()


async def test_browser_path_with_ephemeral_key(server: EngineServer, client: AsyncOpenAI) -> None:
    secret = await client.realtime.client_secrets.create(
        session={"type": "realtime", "instructions": "From the key.", "audio": {"output": {"voice": "cedar"}}}
    )
    rtc = RtcClient()
    try:
        offer = await rtc.offer()
        async with httpx.AsyncClient(base_url=server.url) as http:
            response = await http.post(
                "/v1/realtime/calls",
                content=offer,
                headers={
                    "Authorization": f"Bearer {secret.value}",
                    "Content-Type": "application/sdp",
                    "X-OpenAI-Agents-SDK": "openai-agents-sdk.0.20.0",
                },
            )
        assert response.status_code == 201 and response.headers["location"].split("/")[-1].startswith("rtc_")
        await rtc.connect(response.text)
        session = (await rtc.events.expect("session.created"))["session"]
        assert session["instructions"] == "From the key." and session["audio"]["output"]["voice"] == "cedar"
    finally:
        await rtc.close()


async def test_peer_loss_and_shutdown_close_calls(client: AsyncOpenAI, server: EngineServer) -> None:
    rtc = RtcClient()
    await start_call(client, rtc)
    await rtc.events.expect("session.created")
    await rtc.pc.close()  # the browser tab went away
    await wait_for(lambda: not server.engine._calls)

    survivor = RtcClient()
    try:
        async with serve_engine() as other, other.client() as sdk:
            await start_call(sdk, survivor)
            await survivor.events.expect("session.created")
            call = next(iter(other.engine._calls.values()))
        # Leaving serve_engine ran the lifespan: the engine hung up its calls.
        assert call.closed.is_set() and not other.engine._calls
    finally:
        await survivor.close()


async def test_call_ends_at_max_duration(make_server: MakeServer) -> None:
    server = await make_server(EngineConfig(api_keys=frozenset({API_KEY}), session_max_duration_s=0.4))
    rtc = RtcClient()
    try:
        async with server.client() as sdk:
            await start_call(sdk, rtc)
        await rtc.events.expect("session.created")
        assert (await rtc.events.expect("error", within=3))["error"]["code"] == "session_expired"
        await wait_for(lambda: rtc.pc.connectionState == "closed" and not server.engine._calls)
    finally:
        await rtc.close()


async def test_long_items_are_retrieved_without_their_bytes(client: AsyncOpenAI) -> None:
    """A data channel message is capped at 256 KiB, so long audio is left out of ``retrieved``."""
    rtc = RtcClient()
    try:
        await start_call(client, rtc)
        await rtc.events.expect("session.created")
        speech = base64.b64encode(bytes(48 * 2500)).decode()  # 2.5 s of PCM16 24 kHz
        item = {"type": "message", "role": "user", "content": [{"type": "input_audio", "audio": speech}]}
        rtc.send({"type": "conversation.item.create", "item": item})
        added = await rtc.events.expect("conversation.item.added")
        await rtc.events.expect("conversation.item.done")
        rtc.send({"type": "conversation.item.retrieve", "item_id": added["item"]["id"]})
        retrieved = (await rtc.events.expect("conversation.item.retrieved"))["item"]
        assert retrieved["content"] == [{"type": "input_audio", "transcript": None}]
    finally:
        await rtc.close()
