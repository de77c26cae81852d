"""Caps on what the engine holds at once, with OpenAI-shaped refusals and ``Retry-After``.

The (N+1)th call or WebSocket session of one key is 429 (``too_many_calls`` / ``too_many_sessions``),
a full process is 503 ``engine_at_capacity``; client secrets count against the key that minted them
or, for a trusted key (a gateway's), against the end user its ``OpenAI-Safety-Identifier`` names;
half-open calls (answered, never connected) hold their place until the engine reaps them; and a flood
from one key leaves another key's calls working. Offers are real aiortc offers that are never
connected, so every call here is half-open.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx
import pytest
import websockets

from tests.engine.conftest import API_KEY, EngineServer
from tests.engine.realtime_kit import RtcClient
from voxgate.engine.config import EngineConfig

KEY_B = "sk-test-engine-second-key-0123456789"
TRUSTED = "sk-test-engine-gateway-key-0123456789"

MakeServer = Callable[..., Awaitable[EngineServer]]


def config(**caps: object) -> EngineConfig:
    return EngineConfig(api_keys=frozenset({API_KEY, KEY_B, TRUSTED}), **caps)


def headers(key: str, user: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **({"OpenAI-Safety-Identifier": user} if user else {})}


async def post_offer(
    server: EngineServer, key: str, clients: list[RtcClient], user: str | None = None
) -> httpx.Response:
    """Post a fresh offer with ``key`` (for end user ``user``) and never connect it (the client is kept
    to be closed later)."""
    rtc = RtcClient()
    clients.append(rtc)
    offer = await rtc.offer()
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        return await http.post(
            "/v1/realtime/calls",
            content=offer,
            headers={**headers(key, user), "Content-Type": "application/sdp"},
        )


async def mint(server: EngineServer, key: str, user: str | None = None) -> str:
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post("/v1/realtime/client_secrets", json={}, headers=headers(key, user))
    assert response.status_code == 200, response.text
    return str(response.json()["value"])


def assert_refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"], error
    assert error["type"] == ("rate_limit_error" if status == 429 else "server_error")
    assert int(response.headers["retry-after"]) > 0


async def stack_client(server: EngineServer) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=server.url, timeout=10, limits=httpx.Limits(max_connections=64, max_keepalive_connections=64)
    )


@pytest.fixture
async def clients() -> object:
    made: list[RtcClient] = []
    yield made
    await asyncio.gather(*(rtc.close() for rtc in made), return_exceptions=True)


async def test_the_next_call_of_a_key_at_its_cap_is_429_and_other_keys_still_call(
    make_server: MakeServer, clients: list[RtcClient]
) -> None:
    server = await make_server(config(max_calls_per_key=2))
    for _ in range(2):
        assert (await post_offer(server, API_KEY, clients)).status_code == 201
    assert_refused(await post_offer(server, API_KEY, clients), 429, "too_many_calls")
    # Another key is not affected by the first one's share.
    assert (await post_offer(server, KEY_B, clients)).status_code == 201
    assert server.engine.capacity.calls == 3


async def test_client_secrets_count_against_the_key_that_minted_them(
    make_server: MakeServer, clients: list[RtcClient]
) -> None:
    server = await make_server(config(max_calls_per_key=2, max_calls=32, trusted_keys=frozenset({TRUSTED})))
    first, second, third = [await mint(server, API_KEY) for _ in range(3)]
    assert (await post_offer(server, first, clients)).status_code == 201
    assert (await post_offer(server, second, clients)).status_code == 201
    # A third secret of the same key is still that key's share.
    assert_refused(await post_offer(server, third, clients), 429, "too_many_calls")
    # An end user's secrets, minted by the gateway, and the gateway's own offers for that user share
    # the user's quota; another user of the same gateway has their own.
    ana = [await mint(server, TRUSTED, "user-ana") for _ in range(2)]
    assert (await post_offer(server, ana[0], clients)).status_code == 201
    assert (await post_offer(server, TRUSTED, clients, "user-ana")).status_code == 201
    assert_refused(await post_offer(server, ana[1], clients), 429, "too_many_calls")
    assert_refused(await post_offer(server, TRUSTED, clients, "user-ana"), 429, "too_many_calls")
    assert (await post_offer(server, TRUSTED, clients, "user-bob")).status_code == 201
    # An untrusted key cannot pick a user to escape its own share.
    assert_refused(await post_offer(server, API_KEY, clients, "someone-else"), 429, "too_many_calls")
    # A gateway secret minted for nobody in particular is capped on its own; the key alone not at all.
    anonymous = await mint(server, TRUSTED)
    assert (await post_offer(server, anonymous, clients)).status_code == 201
    assert (await post_offer(server, anonymous, clients)).status_code == 201
    assert_refused(await post_offer(server, anonymous, clients), 429, "too_many_calls")
    for _ in range(3):
        assert (await post_offer(server, TRUSTED, clients)).status_code == 201


async def test_a_full_process_is_503_for_every_key(make_server: MakeServer, clients: list[RtcClient]) -> None:
    server = await make_server(config(max_calls_per_key=5, max_calls=3))
    for key in (API_KEY, API_KEY, KEY_B):
        assert (await post_offer(server, key, clients)).status_code == 201
    assert_refused(await post_offer(server, KEY_B, clients), 503, "engine_at_capacity")
    assert_refused(await post_offer(server, TRUSTED, clients), 503, "engine_at_capacity")


async def test_half_open_calls_hold_their_place_until_reaped(
    make_server: MakeServer, clients: list[RtcClient]
) -> None:
    """Offers answered but never connected count against the cap, then the engine reaps them and the
    key may call again."""
    server = await make_server(config(max_calls_per_key=2, call_connect_timeout_s=1.0))
    ids = []
    for _ in range(2):
        response = await post_offer(server, API_KEY, clients)
        assert response.status_code == 201
        ids.append(response.headers["location"].rsplit("/", 1)[-1])
    assert_refused(await post_offer(server, API_KEY, clients), 429, "too_many_calls")
    calls = [server.engine.call(call_id) for call_id in ids]
    async with asyncio.timeout(10):
        await asyncio.gather(*(call.closed.wait() for call in calls))
    assert server.engine.capacity.calls == 0
    assert all(call_id not in server.engine._calls for call_id in ids)
    assert (await post_offer(server, API_KEY, clients)).status_code == 201


async def test_websocket_sessions_per_key_and_in_total(make_server: MakeServer) -> None:
    server = await make_server(config(max_sessions_per_key=2, max_live_total=3))
    url = f"ws://127.0.0.1:{server.port}/v1/realtime?model=gpt-realtime"

    def connect(key: str) -> websockets.connect:
        return websockets.connect(url, additional_headers={"Authorization": f"Bearer {key}"})

    async with connect(API_KEY) as one, connect(API_KEY) as two:
        for ws in (one, two):
            assert '"session.created"' in str(await ws.recv())
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with connect(API_KEY):
                pass
        assert refused.value.response.status_code == 429
        assert b"too_many_sessions" in refused.value.response.body
        assert int(refused.value.response.headers["Retry-After"]) > 0
        async with connect(KEY_B) as three:
            assert '"session.created"' in str(await three.recv())
            with pytest.raises(websockets.InvalidStatus) as full:
                async with connect(KEY_B):
                    pass
            assert full.value.response.status_code == 503
            assert b"engine_at_capacity" in full.value.response.body
    # Closed sessions give their places back.
    async with asyncio.timeout(5):
        while server.engine.capacity.sessions:  # noqa: ASYNC110 - engine state with no event to await
            await asyncio.sleep(0.02)
    async with connect(API_KEY) as again:
        assert '"session.created"' in str(await again.recv())


async def test_a_flood_from_one_key_leaves_another_keys_call_setup_working(
    make_server: MakeServer, clients: list[RtcClient]
) -> None:
    """Key A posts 40 offers at once (4 answered, the rest refused); key B's call, posted in the middle
    of the flood, is answered and connects. Offers are made before the clock starts (client and server
    share this event loop). The timings are printed for the report, not asserted."""
    server = await make_server(config(max_calls_per_key=4, max_calls=16))
    # One HTTP client for all (each new one costs the shared loop an SSL context).
    http = await stack_client(server)

    async def post(key: str, offer: str) -> httpx.Response:
        return await http.post(
            "/v1/realtime/calls",
            content=offer,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/sdp"},
        )

    async def call_b() -> tuple[float, float]:
        rtc = RtcClient()
        clients.append(rtc)
        offer = await rtc.offer()
        started = time.perf_counter()
        answer = await post(KEY_B, offer)
        answered = time.perf_counter() - started
        assert answer.status_code == 201, answer.text
        await rtc.connect(answer.text)
        await rtc.events.expect("session.created")
        return answered, time.perf_counter() - started

    alone = await call_b()
    flooder = RtcClient()
    clients.append(flooder)
    offer_a = await flooder.offer()  # one offer posted 40 times: the server reads each on its own
    flood = [asyncio.ensure_future(post(API_KEY, offer_a)) for _ in range(40)]
    await asyncio.sleep(0)
    during = await call_b()
    statuses = [r.status_code for r in await asyncio.gather(*flood)]
    assert statuses.count(201) == 4 and statuses.count(429) == 36
    # Key A at its cap keeps posting: every offer is refused before anything is built for it.
    again = [asyncio.ensure_future(post(API_KEY, offer_a)) for _ in range(40)]
    await asyncio.sleep(0)
    at_cap = await call_b()
    assert {r.status_code for r in await asyncio.gather(*again)} == {429}
    await http.aclose()
    print(
        f"\ncall setup of key B (to the answer / to session.created): alone {alone[0] * 1000:.0f} / "
        f"{alone[1] * 1000:.0f} ms; during key A's flood of 40 offers {during[0] * 1000:.0f} / "
        f"{during[1] * 1000:.0f} ms; during 40 more offers of key A at its cap {at_cap[0] * 1000:.0f} / "
        f"{at_cap[1] * 1000:.0f} ms"
    )
