"""Who may end a call, what a sideband sees when the call ends, and the current transcription models.

On the local engine an ``ek_`` key may end only the calls it opened; any other call is answered as if it
did not exist. A standard key may end any call. Calls are real: an aiortc offer, answered and connected.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import websockets
from openai import AsyncOpenAI

from tests.engine.conftest import API_KEY, EngineServer
from tests.engine.realtime_kit import EventReader, RtcClient
from voxgate.engine.realtime.session_config import parse_session_request

CURRENT_TRANSCRIPTION = ("gpt-realtime-whisper", "gpt-transcribe", "gpt-live-transcribe")
OLD_TRANSCRIPTION = ("whisper-1", "gpt-4o-mini-transcribe", "gpt-4o-transcribe")


@asynccontextmanager
async def open_call(server: EngineServer, key: str) -> AsyncIterator[tuple[str, RtcClient]]:
    """Post a real offer as raw SDP with ``key`` (as a browser does), connect; yield the call id."""
    rtc = RtcClient()
    try:
        offer = await rtc.offer()
        async with httpx.AsyncClient(base_url=server.url) as http:
            response = await http.post(
                "/v1/realtime/calls",
                content=offer,
                headers={"Authorization": f"Bearer {key}", "Content-Type": "application/sdp"},
            )
        assert response.status_code == 201, response.text
        await rtc.connect(response.text)
        await rtc.events.expect("session.created")
        yield response.headers["location"].split("/")[-1], rtc
    finally:
        await rtc.close()


async def hangup(server: EngineServer, call_id: str, key: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url) as http:
        return await http.post(
            f"/v1/realtime/calls/{call_id}/hangup", headers={"Authorization": f"Bearer {key}"}
        )


async def gone(server: EngineServer, call_id: str) -> None:
    """Wait until the engine has forgotten ``call_id`` (closing a call finishes in the background)."""
    async with asyncio.timeout(5):
        while call_id in server.engine._calls:  # noqa: ASYNC110 - engine state with no event to await
            await asyncio.sleep(0.02)


def not_found(call_id: str) -> dict[str, Any]:
    return {
        "error": {
            "type": "invalid_request_error",
            "code": "call_not_found",
            "message": f"Call '{call_id}' not found.",
            "param": "call_id",
        }
    }


async def test_ephemeral_key_ends_only_the_calls_it_opened(server: EngineServer, client: AsyncOpenAI) -> None:
    mine = (await client.realtime.client_secrets.create()).value
    other = (await client.realtime.client_secrets.create()).value

    # An unknown call, for the shape every refusal must have.
    unknown = await hangup(server, "rtc_missing", other)
    assert unknown.status_code == 404 and unknown.json() == not_found("rtc_missing")

    async with open_call(server, mine) as (my_call, _), open_call(server, API_KEY) as (standard_call, _):
        # Another client secret, and the one that opened a different call, see "no such call".
        for key, call_id in ((other, my_call), (mine, standard_call)):
            refused = await hangup(server, call_id, key)
            assert refused.status_code == 404 and refused.json() == not_found(call_id)
            assert server.engine.call(call_id).session is not None  # and the call goes on

        ended = await hangup(server, my_call, mine)
        assert ended.status_code == 200 and ended.content == b""
        await gone(server, my_call)
        again = await hangup(server, my_call, mine)
        assert again.status_code == 404 and again.json() == not_found(my_call)

        assert (await hangup(server, standard_call, API_KEY)).status_code == 200
        await gone(server, standard_call)


async def test_standard_key_ends_a_call_an_ephemeral_key_opened(
    server: EngineServer, client: AsyncOpenAI
) -> None:
    secret = (await client.realtime.client_secrets.create()).value
    async with open_call(server, secret) as (call_id, rtc):
        await client.realtime.calls.hangup(call_id)  # the SDK, with the standard key
        await gone(server, call_id)
        async with asyncio.timeout(5):
            while rtc.pc.connectionState != "closed":  # noqa: ASYNC110 - aiortc state, no event
                await asyncio.sleep(0.02)


def sideband(server: EngineServer, call_id: str) -> Any:
    return websockets.connect(
        f"ws://127.0.0.1:{server.port}/v1/realtime?call_id={call_id}",
        additional_headers={"Authorization": f"Bearer {API_KEY}"},
    )


async def drain(ws: Any) -> list[str]:
    """Every frame until the server closes the socket."""
    return [frame async for frame in ws]


@pytest.mark.parametrize("ending", ["hangup", "caller_left"])
async def test_sideband_closes_with_the_call_and_cannot_reattach(server: EngineServer, ending: str) -> None:
    async with open_call(server, API_KEY) as (call_id, rtc):
        async with sideband(server, call_id) as ws:
            # The sideband is live: an event sent on it is answered on it.
            await ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime"}}))
            await EventReader(ws.recv).expect("session.updated")
            if ending == "hangup":
                assert (await hangup(server, call_id, API_KEY)).status_code == 200
            else:
                await rtc.pc.close()  # the browser tab went away
            await drain(ws)
            # A normal close, so a supervisor reads it as "the call ended", not as a network fault.
            assert ws.close_code == 1000
        await gone(server, call_id)

        with pytest.raises(websockets.InvalidStatus) as caught:
            async with sideband(server, call_id):
                pass
        assert caught.value.response.status_code == 404
        assert json.loads(caught.value.response.body) == not_found(call_id)


@pytest.mark.parametrize("model", CURRENT_TRANSCRIPTION + OLD_TRANSCRIPTION)
def test_transcription_models_are_accepted(model: str) -> None:
    for kind in ("realtime", "transcription"):
        fields = parse_session_request(
            {"type": kind, "audio": {"input": {"transcription": {"model": model, "language": "en"}}}}
        )
        assert fields["audio"]["input"]["transcription"]["model"] == model


async def test_current_transcription_models_end_to_end(server: EngineServer, client: AsyncOpenAI) -> None:
    for model in CURRENT_TRANSCRIPTION:
        secret = await client.realtime.client_secrets.create(
            session={"type": "realtime", "audio": {"input": {"transcription": {"model": model}}}}
        )
        assert secret.session.type == "realtime"
        assert (
            secret.session.audio and secret.session.audio.input and secret.session.audio.input.transcription
        )
        assert secret.session.audio.input.transcription.model == model
    # And by session.update on a live WebSocket session, for a transcription session too.
    async with websockets.connect(
        f"ws://127.0.0.1:{server.port}/v1/realtime?intent=transcription",
        additional_headers={"Authorization": f"Bearer {API_KEY}"},
    ) as ws:
        events = EventReader(ws.recv)
        await events.expect("session.created")
        for model in CURRENT_TRANSCRIPTION:
            update = {"type": "transcription", "audio": {"input": {"transcription": {"model": model}}}}
            await ws.send(json.dumps({"type": "session.update", "session": update}))
            session = (await events.expect("session.updated"))["session"]
            assert session["audio"]["input"]["transcription"]["model"] == model
