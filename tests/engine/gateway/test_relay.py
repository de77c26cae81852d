"""The relay and the supervisor against the real local engine standing in for OpenAI.

A WebRTC client (aiortc) posts its offer to voxgate's ``/api/realtime/calls``; voxgate creates the call
upstream with the server's key, answers with the SDP and its own call id, and watches the call through
the sideband. Nothing but the sideband fills the ledger here: no console reports anything.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.engine.conftest import API_KEY, EngineServer
from tests.engine.realtime_kit import RtcClient
from voxgate.adapters.sql.database import DatabaseUnavailable
from voxgate.core.ledger import CallRecord
from voxgate.engine.config import EngineConfig
from voxgate.errors import UpstreamUnreachable

USER_TEXT = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello relay"}]}


async def eventually(check: Callable[[], Awaitable[Any]], within: float = 20.0) -> Any:
    """Poll ``check`` until it returns something truthy (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = await check()
        if result or loop.time() > deadline:
            return result
        await asyncio.sleep(0.05)


async def relay(gw: Any, key: str, rtc: RtcClient, **kwargs: Any) -> httpx.Response:
    """Post the client's offer to voxgate's relay as raw SDP (OpenAI's calls shape)."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/sdp"}
    return await gw.client.post("/api/realtime/calls", content=await rtc.offer(), headers=headers, **kwargs)


async def text_turn(rtc: RtcClient) -> dict[str, Any]:
    rtc.send({"type": "conversation.item.create", "item": USER_TEXT})
    rtc.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
    done: dict[str, Any] = (await rtc.events.until("response.done"))[-1]
    return done


@pytest.fixture
async def relay_gateway(
    gateway_factory: Any, make_server: Callable[..., Awaitable[EngineServer]]
) -> AsyncIterator[tuple[Any, EngineServer]]:
    engine = await make_server(EngineConfig(api_keys=frozenset({API_KEY})))
    async with gateway_factory(
        upstream_url=engine.base_url, OPENAI_API_KEY=API_KEY, console_mode="relay"
    ) as gw:
        yield gw, engine


async def test_a_relayed_call_is_answered_watched_and_recorded(
    relay_gateway: tuple[Any, EngineServer],
) -> None:
    gw, engine = relay_gateway
    user, key = await gw.user_with_key()
    rtc = RtcClient()
    try:
        answered = await relay(gw, key, rtc)
        assert answered.status_code == 201, answered.text
        assert answered.headers["content-type"].startswith("application/sdp")
        location = answered.headers["location"]
        assert location.startswith("/api/calls/vgc_")
        call_id = location.rsplit("/", 1)[-1]
        # No upstream credential, call id or URL reaches the client.
        for leaked in (API_KEY, engine.base_url, f"127.0.0.1:{engine.port}", "rtc_"):
            assert leaked not in answered.text and leaked not in str(answered.headers)
        call: CallRecord = await gw.services.ledger.get_call(call_id)
        assert call.user_id == user.id and call.mode == "relay" and call.live
        assert call.upstream_call_id in engine.engine._calls
        assert await eventually(lambda: _watching(gw, call_id), 1.0), "the sideband attached within 1 s"
        await rtc.connect(answered.text)
        session = (await rtc.events.expect("session.created"))["session"]
        assert session["model"] == gw.services.policy.model
        done = await text_turn(rtc)
        assert done["response"]["status"] == "completed"
        reply = done["response"]["output"][0]["content"][0]["text"]

        async def recorded() -> Any:
            detail = await gw.services.ledger.call_detail(call_id)
            return detail if detail and detail.responses and len(detail.items) >= 2 else None

        detail = await eventually(recorded)
        assert [(i.role, i.text) for i in detail.items] == [("user", "hello relay"), ("assistant", reply)]
        response = detail.responses[0]
        assert response.response_id == done["response"]["id"]
        assert response.usage["input_tokens"] == done["response"]["usage"]["input_tokens"]
        assert isinstance(response.cost_usd, Decimal) and response.cost_usd > 0
        assert detail.summary.cost_usd == response.cost_usd
    finally:
        await rtc.close()

    async def ended() -> Any:
        record = await gw.services.ledger.get_call(call_id)
        return record if record and not record.live else None

    record = await eventually(ended, 15.0)
    assert record is not None, "the call's end was recorded"
    assert record.end_reason == "upstream_closed"


async def _watching(gw: Any, call_id: str) -> bool:
    return call_id in gw.services.supervisor.watching


async def test_a_browser_gone_right_after_the_answer_leaves_an_ended_call(
    gateway_factory: Any, make_server: Callable[..., Awaitable[EngineServer]]
) -> None:
    # The engine gives a peer that never connects 3 s (OpenAI: some seconds too), then ends the call.
    engine = await make_server(EngineConfig(api_keys=frozenset({API_KEY}), call_connect_timeout_s=3.0))
    async with gateway_factory(
        upstream_url=engine.base_url, OPENAI_API_KEY=API_KEY, console_mode="relay"
    ) as gw:
        await _browser_gone(gw, engine)


async def _browser_gone(gw: Any, engine: EngineServer) -> None:
    _, key = await gw.user_with_key()
    rtc = RtcClient()
    answered = await relay(gw, key, rtc)
    assert answered.status_code == 201
    await rtc.close()  # killed before it ever connected
    call_id = answered.headers["location"].rsplit("/", 1)[-1]

    async def ended() -> Any:
        record = await gw.services.ledger.get_call(call_id)
        return record if record and not record.live else None

    record = await eventually(ended, 15.0)
    assert record is not None and record.end_reason == "upstream_closed"
    assert record.ended_at is not None and record.ended_at >= record.started_at
    assert not engine.engine._calls


async def test_a_call_whose_sideband_cannot_attach_is_hung_up(
    relay_gateway: tuple[Any, EngineServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    gw, engine = relay_gateway
    attempts: list[str] = []

    @contextlib.asynccontextmanager
    async def refused(call_id: str) -> AsyncIterator[Any]:
        attempts.append(call_id)
        raise UpstreamUnreachable("forced: the sideband is unreachable")
        yield  # pragma: no cover

    monkeypatch.setattr(gw.services.upstream, "sideband", refused)
    _, key = await gw.user_with_key()
    rtc = RtcClient()
    try:
        answered = await relay(gw, key, rtc)
        assert answered.status_code == 201
        await rtc.connect(answered.text)
        call_id = answered.headers["location"].rsplit("/", 1)[-1]
        upstream_id = (await gw.services.ledger.get_call(call_id)).upstream_call_id
        started = asyncio.get_running_loop().time()

        async def hung_up() -> bool:
            return upstream_id not in engine.engine._calls

        assert await eventually(hung_up, 12.0)
        elapsed = asyncio.get_running_loop().time() - started
        record = await gw.services.ledger.get_call(call_id)
        assert record.end_reason == "unwatchable"
        # Retried with backoff, then gave up at the configured bound (5 s by default).
        assert len(attempts) > 2
        assert elapsed < gw.services.settings.supervisor.attach_timeout_s + 4.0
    finally:
        await rtc.close()


async def test_relay_takes_json_and_multipart_and_applies_the_policy(
    relay_gateway: tuple[Any, EngineServer],
) -> None:
    gw, _ = relay_gateway
    _, key = await gw.user_with_key()
    auth = {"Authorization": f"Bearer {key}"}
    # First, while the user holds no call (two live calls are the per-user cap, and a call's place is
    # freed only once its end is seen): an offer the upstream refuses is the caller's 400.
    garbage = await gw.client.post(
        "/api/realtime/calls", content=b"not an offer", headers={**auth, "Content-Type": "application/sdp"}
    )
    assert garbage.status_code == 400
    assert garbage.json()["error"]["param"] == "sdp"
    rtc = RtcClient()
    try:
        body = {"sdp": await rtc.offer(), "session": {"audio": {"output": {"voice": "cedar"}}}}
        answered = await gw.client.post("/api/realtime/calls", json=body, headers=auth)
        assert answered.status_code == 201, answered.text
        await rtc.connect(answered.text)
        session = (await rtc.events.expect("session.created"))["session"]
        assert session["audio"]["output"]["voice"] == "cedar"
        call = await gw.services.ledger.get_call(answered.headers["location"].rsplit("/", 1)[-1])
        assert call.voice == "cedar"
    finally:
        await rtc.close()
    # An override the policy does not allow is refused before anything goes upstream.
    refused = await gw.client.post(
        "/api/realtime/calls", json={"sdp": "v=0\r\n", "session": {"instructions": "be evil"}}, headers=auth
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "session.instructions"
    rtc = RtcClient()
    try:
        files = {"sdp": (None, await rtc.offer()), "session": (None, '{"type": "realtime"}')}
        multipart = await gw.client.post("/api/realtime/calls", files=files, headers=auth)
        assert multipart.status_code == 201, multipart.text
    finally:
        await rtc.close()
    bad = await gw.client.post(
        "/api/realtime/calls", content=b"v=0", headers={**auth, "Content-Type": "text/plain"}
    )
    assert bad.status_code == 415
    assert bad.json()["error"]["type"] == "invalid_request_error"
    anonymous = await gw.client.post(
        "/api/realtime/calls", content=b"v=0", headers={"Content-Type": "application/sdp"}
    )
    assert anonymous.status_code == 401


async def test_a_relay_ticket_works_like_an_ephemeral_key_but_only_at_the_relay(
    relay_gateway: tuple[Any, EngineServer],
) -> None:
    gw, _ = relay_gateway
    user, key = await gw.user_with_key()
    minted = await gw.mint(key, {"session": {"audio": {"output": {"voice": "verse"}}}})
    assert minted.status_code == 200, minted.text
    token = minted.json()
    assert token["value"].startswith("ek_vgt_")
    # Relative to this site (no VOXGATE_PUBLIC_URL set): never built from the request's Host.
    assert token["calls_url"] == "/api/realtime/calls"
    assert token["client_secret"]["value"] == token["value"]
    rtc = RtcClient()
    try:
        headers = {"Authorization": f"Bearer {token['value']}", "Content-Type": "application/sdp"}
        answered = await gw.client.post("/api/realtime/calls", content=await rtc.offer(), headers=headers)
        assert answered.status_code == 201, answered.text
        await rtc.connect(answered.text)
        session = (await rtc.events.expect("session.created"))["session"]
        assert session["audio"]["output"]["voice"] == "verse"
        call = await gw.services.ledger.get_call(answered.headers["location"].rsplit("/", 1)[-1])
        assert call.user_id == user.id
    finally:
        await rtc.close()
    # A ticket is no API key: it opens nothing else.
    me = await gw.client.get("/api/me", headers={"Authorization": f"Bearer {token['value']}"})
    assert me.status_code == 401
    forged = await gw.client.post(
        "/api/realtime/calls",
        content=b"v=0",
        headers={"Authorization": "Bearer ek_vgt_forged", "Content-Type": "application/sdp"},
    )
    assert forged.status_code == 401


async def test_an_answer_whose_audit_row_cannot_be_written_never_reaches_the_browser(
    relay_gateway: tuple[Any, EngineServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit row is written while the upstream makes the call; if it cannot be, the browser gets a
    503 and no answer, and the call the upstream made is hung up and recorded as ended."""
    gw, engine = relay_gateway
    user, key = await gw.user_with_key()
    made: list[str] = []
    create_call = gw.services.upstream.create_call

    async def create_and_note(**kwargs: Any) -> Any:
        created = await create_call(**kwargs)
        made.append(created.call_id)
        return created

    async def unwritable(*_: Any) -> int:
        raise DatabaseUnavailable("The database did not answer; try again shortly.", retry_after=5)

    monkeypatch.setattr(gw.services.upstream, "create_call", create_and_note)
    monkeypatch.setattr(gw.services.accounts, "record_mint", unwritable)
    rtc = RtcClient()
    try:
        refused = await relay(gw, key, rtc)
    finally:
        await rtc.close()
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "database_unavailable"
    assert "v=0" not in refused.text and "location" not in refused.headers
    assert len(made) == 1, "the upstream made the call while the row was being written"
    assert await eventually(lambda: _gone(engine, made[0]), 5.0), "the call was hung up upstream"
    record = await gw.services.ledger.get_call_by_upstream(made[0])
    assert record is not None and record.user_id == user.id
    assert (record.live, record.end_reason) == (False, "not_recorded")


async def _gone(engine: EngineServer, upstream_call_id: str) -> bool:
    return upstream_call_id not in engine.engine._calls
