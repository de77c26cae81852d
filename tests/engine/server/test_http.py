"""The engine's HTTP surface: client secrets, models, CORS, WebSocket auth and every refusal shape."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable

import httpx
import openai
import pytest
import websockets
from openai import AsyncOpenAI

from tests.engine.conftest import API_KEY, EngineServer
from tests.engine.realtime_kit import EventReader, check_client_secret, sdk_reader

MakeServer = Callable[..., Awaitable[EngineServer]]


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


async def test_client_secret_full_echo(client: AsyncOpenAI) -> None:
    before = int(time.time())
    raw = await client.realtime.client_secrets.with_raw_response.create(
        expires_after={"anchor": "created_at", "seconds": 120},
        session={
            "type": "realtime",
            "model": "gpt-realtime",
            "instructions": "Be brief.",
            "output_modalities": ["text"],
            "audio": {"output": {"voice": "marin"}},
        },
    )
    body = json.loads(raw.http_response.content)
    check_client_secret(body)
    assert before + 120 <= body["expires_at"] <= int(time.time()) + 120
    session = body["session"]
    assert session["object"] == "realtime.session" and session["id"].startswith("sess_")
    assert session["instructions"] == "Be brief." and session["output_modalities"] == ["text"]
    assert session["audio"]["output"] == {
        "format": {"type": "audio/pcm", "rate": 24000},
        "voice": "marin",
        "speed": 1.0,
    }
    assert session["audio"]["input"]["turn_detection"]["silence_duration_ms"] == 200
    assert session["tools"] == [] and session["max_output_tokens"] == "inf"

    default = await client.realtime.client_secrets.create()
    assert default.expires_at - int(time.time()) in (599, 600)
    assert default.session.type == "realtime"


async def test_ephemeral_key_carries_its_session_to_many_sessions(
    server: EngineServer, client: AsyncOpenAI
) -> None:
    secret = await client.realtime.client_secrets.create(
        session={"type": "realtime", "instructions": "From the key.", "output_modalities": ["text"]}
    )
    for _ in range(2):
        # Browser-style auth: subprotocols, the key in one of them, `realtime` echoed.
        async with websockets.connect(
            f"ws://127.0.0.1:{server.port}/v1/realtime?model=gpt-realtime",
            subprotocols=["realtime", f"openai-insecure-api-key.{secret.value}"],  # type: ignore[list-item]
        ) as ws:
            assert ws.subprotocol == "realtime"
            session = (await EventReader(ws.recv).expect("session.created"))["session"]
            assert session["instructions"] == "From the key." and session["output_modalities"] == ["text"]


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"ttl_seconds": 60}, "ttl_seconds", "unknown_parameter"),
        (
            {"expires_after": {"anchor": "created_at", "seconds": 5}},
            "expires_after.seconds",
            "integer_out_of_range",
        ),
        ({"expires_after": {"seconds": 7201}}, "expires_after.seconds", "integer_out_of_range"),
        ({"expires_after": {"anchor": "now", "seconds": 60}}, "expires_after.anchor", "invalid_value"),
        ({"expires_after": {"seconds": 60, "x": 1}}, "expires_after.x", "unknown_parameter"),
        ({"session": {"type": "realtime", "voice": "alloy"}}, "session.voice", "unknown_parameter"),
        ({"session": {"type": "realtime", "temperature": 0.8}}, "session.temperature", "unknown_parameter"),
        ({"session": {"model": "gpt-realtime"}}, "session.type", "missing_required_parameter"),
        (
            {"session": {"type": "realtime", "max_output_tokens": 9000}},
            "session.max_output_tokens",
            "integer_out_of_range",
        ),
    ],
)
async def test_client_secret_refusals(
    server: EngineServer, body: dict[str, object], param: str, code: str
) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post(
            "/v1/realtime/client_secrets", json=body, headers={"Authorization": f"Bearer {API_KEY}"}
        )
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["param"], error["code"], error["type"]) == (param, code, "invalid_request_error")
    assert set(error) == {"message", "type", "param", "code"}


async def test_sdk_surfaces_unknown_parameter(client: AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.realtime.client_secrets.create(extra_body={"ttl_seconds": 60})
    assert caught.value.code == "unknown_parameter" and caught.value.param == "ttl_seconds"


async def test_keys_are_checked(server: EngineServer) -> None:
    async with server.client("sk-wrong-key-000000") as bad:
        with pytest.raises(openai.AuthenticationError) as caught:
            await bad.realtime.client_secrets.create()
        assert caught.value.code == "invalid_api_key"
        assert "sk-wrong-key-000000" not in str(caught.value)  # masked
        with pytest.raises(openai.AuthenticationError):
            await bad.models.list()
    async with httpx.AsyncClient(base_url=server.url) as http:
        assert (await http.post("/v1/realtime/client_secrets", json={})).status_code == 401


async def test_expired_key_is_refused_but_live_sessions_go_on(make_server: MakeServer) -> None:
    clock = FakeClock()
    server = await make_server(clock=clock)
    async with server.client() as sdk:
        secret = await sdk.realtime.client_secrets.create(
            expires_after={"anchor": "created_at", "seconds": 10}
        )
    async with websockets.connect(
        f"ws://127.0.0.1:{server.port}/v1/realtime?model=gpt-realtime",
        additional_headers={"Authorization": f"Bearer {secret.value}"},
    ) as live:
        events = EventReader(live.recv)
        await events.expect("session.created")
        clock.now += 11
        async with httpx.AsyncClient(base_url=server.url) as http:
            response = await http.post(
                "/v1/realtime/calls",
                content="v=0\r\n",
                headers={"Authorization": f"Bearer {secret.value}", "Content-Type": "application/sdp"},
            )
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"
        with pytest.raises(websockets.InvalidStatus) as caught:
            async with websockets.connect(
                f"ws://127.0.0.1:{server.port}/v1/realtime?model=gpt-realtime",
                additional_headers={"Authorization": f"Bearer {secret.value}"},
            ):
                pass
        assert caught.value.response.status_code == 401
        # The session opened before expiry still works.
        await live.send(json.dumps({"type": "input_audio_buffer.clear"}))
        await events.expect("input_audio_buffer.cleared")


async def test_beta_header_is_refused_with_4000(server: EngineServer) -> None:
    async with websockets.connect(
        f"ws://127.0.0.1:{server.port}/v1/realtime?model=gpt-realtime",
        additional_headers={"Authorization": f"Bearer {API_KEY}", "OpenAI-Beta": "realtime=v1"},
    ) as ws:
        error = (await EventReader(ws.recv).expect("error"))["error"]
        assert error["code"] == "beta_api_shape_disabled"
        with pytest.raises(websockets.ConnectionClosed) as caught:
            await ws.recv()
    assert caught.value.rcvd is not None and caught.value.rcvd.code == 4000


async def test_beta_http_paths_are_gone(server: EngineServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        for path in ("/v1/realtime/sessions", "/v1/realtime?model=gpt-realtime"):
            response = await http.post(path, json={}, headers={"Authorization": f"Bearer {API_KEY}"})
            assert response.status_code == 400
            assert response.json()["error"]["code"] == "beta_api_shape_disabled"


async def test_models_and_not_found(client: AsyncOpenAI, server: EngineServer) -> None:
    models = await client.models.list()
    assert [m.id for m in models.data] == ["gpt-realtime"]
    assert (await client.models.retrieve("gpt-realtime")).id == "gpt-realtime"
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("gpt-5")
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.get("/v1/nothing-here")
        assert response.status_code == 404 and response.json()["error"]["type"] == "invalid_request_error"
        assert (await http.get("/v1/realtime/client_secrets")).status_code == 405


async def test_cors_for_browsers(server: EngineServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        preflight = await http.options(
            "/v1/realtime/calls",
            headers={
                "Origin": "http://localhost:5173",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": (
                    "authorization,content-type,x-openai-agents-sdk,openai-safety-identifier"
                ),
            },
        )
        assert preflight.status_code == 200
        allowed = preflight.headers["access-control-allow-headers"].lower()
        for header in ("authorization", "content-type", "x-openai-agents-sdk", "openai-safety-identifier"):
            assert header in allowed
        response = await http.post(
            "/v1/realtime/calls",
            content="bad",
            headers={
                "Origin": "http://localhost:5173",
                "Authorization": f"Bearer {API_KEY}",
                "Content-Type": "text/plain",
            },
        )
        assert response.status_code == 415
        assert response.headers["access-control-expose-headers"] == "Location"


async def test_sideband_needs_a_live_call_and_a_standard_key(
    server: EngineServer, client: AsyncOpenAI
) -> None:
    with pytest.raises(websockets.InvalidStatus) as caught:
        async with client.realtime.connect(call_id="rtc_missing"):
            pass
    assert caught.value.response.status_code == 404
    secret = await client.realtime.client_secrets.create()
    async with server.client(secret.value) as ephemeral:
        with pytest.raises(websockets.InvalidStatus) as caught:
            async with ephemeral.realtime.connect(call_id="rtc_missing"):
                pass
    assert caught.value.response.status_code == 403


async def test_transcription_intent(server: EngineServer) -> None:
    async with websockets.connect(
        f"ws://127.0.0.1:{server.port}/v1/realtime?intent=transcription",
        additional_headers={"Authorization": f"Bearer {API_KEY}"},
    ) as ws:
        events = EventReader(ws.recv)
        session = (await events.expect("session.created"))["session"]
        assert session["type"] == "transcription" and session["object"] == "realtime.transcription_session"
        await ws.send(json.dumps({"type": "response.create"}))
        assert (await events.expect("error"))["error"]["param"] == "type"


async def test_sdk_reader_is_strict(client: AsyncOpenAI) -> None:
    """The shared receiver rejects what the official types reject (sanity check of the test kit)."""
    async with client.realtime.connect(model="gpt-realtime") as conn:
        reader = sdk_reader(conn)
        await reader.expect("session.created")
        from tests.engine.realtime_kit import check_server_event

        with pytest.raises(Exception):  # noqa: B017, PT011 - pydantic's or our assertion
            check_server_event({"type": "response.text.delta", "event_id": "event_1"})
        with pytest.raises(AssertionError):
            check_server_event({"type": "input_audio_buffer.cleared", "event_id": "event_1", "surprise": 1})
