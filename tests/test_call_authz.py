"""Who may touch a call: its owner and admins, by the ledger's word alone. User B cannot read, export,
delete or hang up user A's call by any route (by voxgate id or upstream id, by key or cookie), not even
after reporting A's call id as its own; to B the call does not exist (404, never 403)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import Gateway
from tests.test_history_api import QUIET_SUPERVISOR, bearer, record_call, said
from voxgate.core.ledger import CallRecord

ORIGIN = {"Origin": "http://testserver"}


def attempts(call: CallRecord) -> list[tuple[str, str, dict[str, Any]]]:
    """Every route that touches one call: method, path, query."""
    return [
        ("GET", f"/api/calls/{call.id}", {}),
        ("GET", f"/api/calls/{call.id}/export", {"format": "json"}),
        ("GET", f"/api/calls/{call.id}/export", {"format": "md"}),
        ("POST", f"/api/calls/{call.id}/hangup", {}),
        ("POST", f"/api/calls/{call.upstream_call_id}/hangup", {}),
        ("DELETE", f"/api/calls/{call.id}", {}),
    ]


async def statuses(client: httpx.AsyncClient, call: CallRecord, headers: dict[str, str]) -> list[int]:
    results = []
    for method, path, params in attempts(call):
        response = await client.request(method, path, params=params, headers=headers)
        if response.status_code == 404:
            # Exactly what a call that does not exist gets: nothing about it leaks.
            assert response.json()["error"]["code"] == "call_not_found", path
            assert "Secret" not in response.text and "ana" not in response.text
        results.append(response.status_code)
    return results


@dataclass
class Scene:
    gw: Gateway
    call: CallRecord  # ana's, live
    ana_key: str
    bob_key: str
    root_key: str


@pytest.fixture(params=["relay", "ephemeral"])
async def scene(request: pytest.FixtureRequest, gateway_factory: Callable[..., Any]) -> AsyncIterator[Scene]:
    async with gateway_factory(console_mode=request.param, supervisor=QUIET_SUPERVISOR) as gw:
        ana, ana_key = await gw.user_with_key("ana")
        _, bob_key = await gw.user_with_key("bob")
        _, root_key = await gw.user_with_key("root", role="admin")
        call = await record_call(
            gw.services, ana.id, items=[said("item_a", "user", "Secret words")], ended=False
        )
        yield Scene(gw, call, ana_key, bob_key, root_key)


async def assert_untouched(scene: Scene) -> None:
    after = await scene.gw.services.ledger.get_call(scene.call.id)
    assert after is not None
    assert (after.user_id, after.live) == (scene.call.user_id, True)


async def test_another_user_cannot_touch_the_call(scene: Scene) -> None:
    assert await statuses(scene.gw.client, scene.call, bearer(scene.bob_key)) == [404] * 6
    # Indistinguishable from a call that does not exist.
    theirs = await scene.gw.client.get(f"/api/calls/{scene.call.id}", headers=bearer(scene.bob_key))
    nobodys = await scene.gw.client.get("/api/calls/vgc_" + "0" * 24, headers=bearer(scene.bob_key))
    assert theirs.json()["error"]["message"].replace(scene.call.id, "X") == nobodys.json()["error"][
        "message"
    ].replace("vgc_" + "0" * 24, "X")
    listing = await scene.gw.client.get("/api/calls", headers=bearer(scene.bob_key))
    assert listing.json()["data"] == []
    await assert_untouched(scene)


async def test_reporting_anothers_call_id_grants_nothing(scene: Scene) -> None:
    report = {"event": "connect", "outcome": "ok", "call_id": scene.call.upstream_call_id}
    for event in ("connect", "reconnect", "renew"):
        response = await scene.gw.client.post(
            "/api/client-metrics", json={**report, "event": event}, headers=bearer(scene.bob_key)
        )
        assert response.status_code == 204
    stored = await scene.gw.services.accounts.list_client_reports()
    assert [r.call_id for r in stored] == [scene.call.upstream_call_id] * 3
    assert await statuses(scene.gw.client, scene.call, bearer(scene.bob_key)) == [404] * 6
    assert (await scene.gw.client.get("/api/calls", headers=bearer(scene.bob_key))).json()["data"] == []
    await assert_untouched(scene)


async def test_anonymous_callers_are_401(scene: Scene) -> None:
    assert await statuses(scene.gw.client, scene.call, {}) == [401] * 6
    assert (await scene.gw.client.get("/api/calls")).status_code == 401
    await assert_untouched(scene)


async def test_the_owner_may_read_hang_up_and_delete(scene: Scene) -> None:
    gw, call, auth = scene.gw, scene.call, bearer(scene.ana_key)
    assert (await gw.client.get(f"/api/calls/{call.id}", headers=auth)).json()["items"][0][
        "text"
    ] == "Secret words"
    md = await gw.client.get(f"/api/calls/{call.id}/export", params={"format": "md"}, headers=auth)
    assert "Secret words" in md.text
    # By the upstream id, as clients did before voxgate had its own ids.
    assert (
        await gw.client.post(f"/api/calls/{call.upstream_call_id}/hangup", headers=auth)
    ).status_code == 204
    ended = await gw.services.ledger.get_call(call.id)
    assert ended is not None
    assert (ended.live, ended.end_reason) == (False, "hangup")
    # Hanging up an ended call is a no-op, not an error.
    assert (await gw.client.post(f"/api/calls/{call.id}/hangup", headers=auth)).status_code == 204
    assert (await gw.client.delete(f"/api/calls/{call.id}", headers=auth)).status_code == 204
    assert await gw.services.ledger.get_call(call.id) is None


async def test_an_admin_may_do_everything(scene: Scene) -> None:
    gw, call = scene.gw, scene.call
    assert await statuses(gw.client, call, bearer(scene.root_key)) == [200, 200, 200, 204, 204, 204]
    assert await gw.services.ledger.get_call(call.id) is None


async def test_deleting_a_live_call_hangs_it_up_first(scene: Scene) -> None:
    gw, call = scene.gw, scene.call
    assert (await gw.client.delete(f"/api/calls/{call.id}", headers=bearer(scene.ana_key))).status_code == 204
    assert await gw.services.ledger.get_call(call.id) is None


async def test_cookie_sessions_follow_the_same_rules(scene: Scene) -> None:
    gw, call = scene.gw, scene.call
    signin = await gw.client.post("/api/auth/signin", json={"key": scene.bob_key}, headers=ORIGIN)
    assert signin.status_code == 200
    assert await statuses(gw.client, call, ORIGIN) == [404] * 6
    report = {"event": "connect", "outcome": "ok", "call_id": call.upstream_call_id}
    assert (await gw.client.post("/api/client-metrics", json=report, headers=ORIGIN)).status_code == 204
    assert await statuses(gw.client, call, ORIGIN) == [404] * 6
    await assert_untouched(scene)

    gw.client.cookies.clear()
    signin = await gw.client.post("/api/auth/signin", json={"key": scene.ana_key}, headers=ORIGIN)
    assert signin.status_code == 200
    assert (await gw.client.get(f"/api/calls/{call.id}")).status_code == 200  # reads need no Origin
    refused = await gw.client.delete(f"/api/calls/{call.id}", headers={"Origin": "https://evil.example"})
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "bad_origin")
    await assert_untouched(scene)
    assert (await gw.client.post(f"/api/calls/{call.id}/hangup", headers=ORIGIN)).status_code == 204
    assert (await gw.client.delete(f"/api/calls/{call.id}", headers=ORIGIN)).status_code == 204
    assert await gw.services.ledger.get_call(call.id) is None
