"""The gateway against the real local engine instead of the strict fake: standalone over HTTP, and embedded.

A user signs in to the gateway, mints an ``ek_`` key built from the server's policy (with their allowed
override), and a WebRTC client posts its SDP to the returned ``calls_url`` exactly as a browser would.
The session the engine reports is the one the policy built.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from tests.conftest import in_thread
from tests.engine.conftest import API_KEY, EngineServer
from tests.engine.realtime_kit import RtcClient
from tests.support.server import ServerThread, free_port
from voxgate.adapters.sql import AccountStore, Database
from voxgate.settings import Settings
from voxgate.web.app import create_app

USER_TEXT = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello gateway"}]}


async def dial(rtc: RtcClient, token: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Post the offer to ``calls_url`` with the minted key, as a browser does; return call id and session."""
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(
            token["calls_url"],
            content=await rtc.offer(),
            headers={"Authorization": f"Bearer {token['value']}", "Content-Type": "application/sdp"},
        )
    assert response.status_code == 201, response.text
    call_id = response.headers["location"].split("/")[-1]
    assert call_id.startswith("rtc_")
    await rtc.connect(response.text)
    return call_id, (await rtc.events.expect("session.created"))["session"]


async def call_with(token: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Dial with the minted key; run one text turn; return call id and session."""
    rtc = RtcClient()
    try:
        call_id, session = await dial(rtc, token)
        rtc.send({"type": "conversation.item.create", "item": USER_TEXT})
        rtc.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
        done = (await rtc.events.until("response.done"))[-1]
        assert done["response"]["status"] == "completed"
        text = done["response"]["output"][0]["content"][0]["text"]
        assert "hello gateway" in text
        return call_id, dict(session)
    finally:
        await rtc.close()


async def test_gateway_mints_from_the_engine_and_the_call_gets_the_policy_session(
    gateway_factory: Any, make_server: Callable[..., Any]
) -> None:
    engine: EngineServer = await make_server()
    async with gateway_factory(upstream_url=engine.base_url, OPENAI_API_KEY=API_KEY) as gw:
        _, key = await gw.user_with_key()
        minted = await gw.mint(key, {"session": {"audio": {"output": {"voice": "cedar"}}}})
        assert minted.status_code == 200, minted.text
        token = minted.json()
        assert token["value"].startswith("ek_")
        assert token["calls_url"] == f"{engine.base_url}/realtime/calls"
        assert (await gw.client.get("/readyz")).status_code == 200
        policy = gw.services.policy
    _, session = await call_with(token)
    assert session["audio"]["output"]["voice"] == "cedar"
    assert session["instructions"] == policy.instructions
    assert session["model"] == policy.model
    assert session["audio"]["input"]["transcription"]["model"] == policy.transcription_model


async def test_embedded_engine_serves_the_call(make_settings: Callable[..., Settings]) -> None:
    port = free_port()
    settings = make_settings(
        OPENAI_API_KEY=None,
        upstream_url=None,
        port=port,
        public_url=f"http://127.0.0.1:{port}",
        engine={"tts": "espeak"},
    )
    assert settings.uses_embedded_engine

    async def add_user() -> str:
        db = Database(settings.effective_database_url)
        try:
            await db.migrate()
            accounts = AccountStore(db)
            await accounts.create_user("eli")
            return (await accounts.create_api_key("eli"))[1]
        finally:
            await db.aclose()

    key = in_thread(add_user())
    with ServerThread(create_app(settings), port=port) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            minted = await http.post("/api/realtime-token", headers={"Authorization": f"Bearer {key}"})
        assert minted.status_code == 200, minted.text
        token = minted.json()
        assert token["calls_url"] == f"{server.url}/engine/v1/realtime/calls"
        call_id, session = await call_with(token)
        assert session["audio"]["output"]["voice"] == "marin"
        # The client closed its peer connection: the embedded engine notices and forgets the call.
        engine = server.server.config.app.state.engine
        for _ in range(100):
            if call_id not in engine._calls:
                break
            await asyncio.sleep(0.1)
        assert call_id not in engine._calls


async def test_console_reports_its_call_and_the_gateway_hangs_it_up(
    gateway_factory: Any, make_server: Callable[..., Any]
) -> None:
    engine: EngineServer = await make_server()
    async with gateway_factory(upstream_url=engine.base_url, OPENAI_API_KEY=API_KEY) as gw:
        _, key = await gw.user_with_key()
        _, other_key = await gw.user_with_key()
        token = (await gw.mint(key)).json()
        rtc = RtcClient()
        try:
            call_id, _ = await dial(rtc, token)
            report = {"event": "connect", "outcome": "ok", "call_id": call_id, "steps": {"total_ms": 50.0}}
            auth = {"Authorization": f"Bearer {key}"}
            assert (await gw.client.post("/api/client-metrics", json=report, headers=auth)).status_code == 204
            # The reported call is watched through its sideband from now on, and recorded.
            call = await gw.services.ledger.get_call_by_upstream(call_id)
            assert call is not None and call.mode == "ephemeral"
            for _ in range(20):
                if call.id in gw.services.supervisor.watching:
                    break
                await asyncio.sleep(0.05)
            assert call.id in gw.services.supervisor.watching, "attached within 1 s"
            await asyncio.sleep(0.2)
            rtc.send({"type": "conversation.item.create", "item": USER_TEXT})
            rtc.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
            await rtc.events.until("response.done")
            for _ in range(100):
                detail = await gw.services.ledger.call_detail(call.id)
                if detail is not None and detail.responses:
                    break
                await asyncio.sleep(0.05)
            assert detail is not None and [i.role for i in detail.items] == ["user", "assistant"]
            # Someone else cannot end it.
            other = await gw.client.post(
                f"/api/calls/{call_id}/hangup", headers={"Authorization": f"Bearer {other_key}"}
            )
            assert other.status_code == 404
            assert call_id in engine.engine._calls
            ended = await gw.client.post(f"/api/calls/{call_id}/hangup", headers=auth)
            assert ended.status_code == 204
            assert call_id not in engine.engine._calls
            # Ending an ended call again changes nothing; the ledger keeps the first reason.
            again = await gw.client.post(f"/api/calls/{call_id}/hangup", headers=auth)
            assert again.status_code == 204
            call = await gw.services.ledger.get_call_by_upstream(call_id)
            assert call is not None and call.end_reason == "hangup"
        finally:
            await rtc.close()
