"""Who may mint: keys, cookies, one-time links, JWTs; lockout after repeated failures; Origin checks."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.conftest import Gateway, in_thread
from tests.support.fake_openai import FakeOpenAIState
from tests.support.server import ServerThread
from voxgate.cli import bootstrap
from voxgate.core import credentials
from voxgate.errors import InvalidRequest, NotFound
from voxgate.web.auth import COOKIE_NAME

ORIGIN = {"Origin": "http://testserver"}


async def test_missing_credentials_is_401(gateway: Gateway) -> None:
    response = await gateway.client.post("/api/realtime-token")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_credentials"


@pytest.mark.parametrize(
    "header", ["Bearer vg_" + "A" * 43, "Bearer not-a-key", "Basic dXNlcjpwYXNz", "Bearer "]
)
async def test_bad_key_is_401(gateway: Gateway, header: str) -> None:
    response = await gateway.client.post("/api/realtime-token", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "invalid_request_error"


async def test_revoked_key_is_401(gateway: Gateway, fake_openai: FakeOpenAIState) -> None:
    _, key = await gateway.user_with_key("rita")
    assert (await gateway.mint(key)).status_code == 200
    (info,) = await gateway.services.accounts.list_api_keys("rita")
    await gateway.services.accounts.revoke_api_key(info.id)
    assert (await gateway.mint(key)).status_code == 401


async def test_disabled_user_is_401_for_keys_and_cookies(
    gateway: Gateway, fake_openai: FakeOpenAIState
) -> None:
    _, key = await gateway.user_with_key("dora")
    signin = await gateway.client.post("/api/auth/signin", json={"key": key}, headers=ORIGIN)
    assert signin.status_code == 200
    await gateway.services.accounts.set_disabled("dora")
    assert (await gateway.mint(key)).status_code == 401
    assert (await gateway.client.get("/api/me")).status_code == 401


async def test_failures_lock_out_unknown_credentials_not_valid_ones(
    gateway_factory: Any, fake_openai: FakeOpenAIState
) -> None:
    """A shared address (NAT, proxy) past its limit: valid keys, cookies and links still work; unknown
    credentials get 429."""
    async with gateway_factory(limits={"auth_failures_per_ip": "10/minute"}) as gw:
        _, good_key = await gw.user_with_key("nat-user")
        bad_keys = [credentials.issue(credentials.API_KEY_PREFIX).value for _ in range(11)]
        statuses = [(await gw.mint(bad)).status_code for bad in bad_keys[:10]]
        assert statuses == [401] * 10
        assert (await gw.mint(good_key)).status_code == 200
        locked = await gw.mint(bad_keys[10])
        assert locked.status_code == 429
        assert locked.json()["error"]["code"] == "too_many_auth_failures"
        assert int(locked.headers["Retry-After"]) >= 1
        # The same for sign-in: a valid key and a valid link still work, an unknown key does not.
        signin = await gw.client.post("/api/auth/signin", json={"key": good_key}, headers=ORIGIN)
        assert signin.status_code == 200
        assert (await gw.client.get("/api/me")).status_code == 200
        gw.client.cookies.clear()
        link = await gw.services.accounts.create_signin_link("nat-user", timedelta(minutes=5))
        assert (
            await gw.client.post("/api/auth/signin", json={"link": link}, headers=ORIGIN)
        ).status_code == 200
        gw.client.cookies.clear()
        unknown = await gw.client.post("/api/auth/signin", json={"key": bad_keys[0]}, headers=ORIGIN)
        assert unknown.status_code == 429
        used = await gw.client.post("/api/auth/signin", json={"link": link}, headers=ORIGIN)
        assert used.status_code == 429


async def test_a_revoked_key_says_so_until_its_address_is_locked_out(
    gateway_factory: Any, fake_openai: FakeOpenAIState
) -> None:
    async with gateway_factory(limits={"auth_failures_per_ip": "3/minute"}) as gw:
        _, key = await gw.user_with_key("rev")
        (info,) = await gw.services.accounts.list_api_keys("rev")
        await gw.services.accounts.revoke_api_key(info.id)
        answers = [await gw.mint(key) for _ in range(4)]
        assert [a.status_code for a in answers] == [401, 401, 401, 429]
        assert answers[0].json()["error"]["code"] == "key_revoked"
        assert "revoked" in answers[0].json()["error"]["message"]


async def test_sign_in_with_key_sets_a_strict_httponly_cookie(
    gateway: Gateway, fake_openai: FakeOpenAIState
) -> None:
    user, key = await gateway.user_with_key("kim")
    response = await gateway.client.post("/api/auth/signin", json={"key": key}, headers=ORIGIN)
    assert response.status_code == 200
    body = response.json()
    # The profiles a user may pick (Realtime and GPT-Live), as the policies set them.
    assert [(p["id"], p["api"], p["model"]) for p in body.pop("profiles")] == [
        ("realtime", "realtime", "gpt-realtime-2.1"),
        ("live", "live", "gpt-live-1.1"),
    ]
    assert body == {
        "user": {"id": user.id, "name": "kim", "role": "user"},
        "auth": "cookie",
        # The gateway fixture runs ephemeral mode against the strict fake, not the local engine.
        "console_mode": "ephemeral",
        "simulated_cost": False,
        "local_engine": None,  # the upstream is not the local engine
    }
    cookie = response.headers["set-cookie"]
    assert f"{COOKIE_NAME}=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # plain http on this test server
    assert key not in cookie
    me = await gateway.client.get("/api/me")
    assert me.json()["user"]["name"] == "kim"
    minted = await gateway.client.post("/api/realtime-token", headers=ORIGIN)
    assert minted.status_code == 200


async def test_cookie_is_secure_over_https(gateway_factory: Any) -> None:
    async with gateway_factory(base_url="https://voxgate.example") as gw:
        _, key = await gw.user_with_key()
        response = await gw.client.post(
            "/api/auth/signin", json={"key": key}, headers={"Origin": "https://voxgate.example"}
        )
    assert response.status_code == 200
    assert "Secure" in response.headers["set-cookie"]


async def test_cookie_is_secure_behind_a_tls_terminating_proxy(gateway_factory: Any) -> None:
    async with gateway_factory(public_url="https://voice.example") as gw:
        _, key = await gw.user_with_key()
        response = await gw.client.post(
            "/api/auth/signin", json={"key": key}, headers={"Origin": "https://voice.example"}
        )
    assert response.status_code == 200
    assert "Secure" in response.headers["set-cookie"]


async def test_cookie_requests_that_change_state_must_come_from_our_origin(
    gateway: Gateway, fake_openai: FakeOpenAIState
) -> None:
    _, key = await gateway.user_with_key()
    await gateway.client.post("/api/auth/signin", json={"key": key}, headers=ORIGIN)
    evil = await gateway.client.post("/api/realtime-token", headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403
    assert evil.json()["error"]["code"] == "bad_origin"
    missing = await gateway.client.post("/api/realtime-token")
    assert missing.status_code == 403
    # Reads need no Origin.
    assert (await gateway.client.get("/api/me")).status_code == 200
    assert fake_openai.requests == []


async def test_cross_site_sign_in_is_refused(gateway: Gateway) -> None:
    _, key = await gateway.user_with_key()
    response = await gateway.client.post(
        "/api/auth/signin", json={"key": key}, headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403


async def test_sign_out_ends_the_session_everywhere(gateway: Gateway) -> None:
    _, key = await gateway.user_with_key()
    await gateway.client.post("/api/auth/signin", json={"key": key}, headers=ORIGIN)
    stolen = gateway.client.cookies[COOKIE_NAME]
    assert (await gateway.client.post("/api/auth/signout", headers=ORIGIN)).status_code == 204
    assert (await gateway.client.get("/api/me")).status_code == 401
    replay = await gateway.client.get("/api/me", headers={"Cookie": f"{COOKIE_NAME}={stolen}"})
    assert replay.status_code == 401


async def test_first_start_link_works_once_and_only_once(gateway: Gateway) -> None:
    accounts = gateway.services.accounts
    url = await bootstrap(accounts, gateway.services.settings, "http://testserver")
    assert url is not None
    assert url.startswith("http://testserver/signin#link=vgl_")
    # A second start on a non-empty database creates nothing.
    assert await bootstrap(accounts, gateway.services.settings, "http://testserver") is None
    token = url.split("#link=", 1)[1]
    first = await gateway.client.post("/api/auth/signin", json={"link": token}, headers=ORIGIN)
    assert first.status_code == 200
    assert first.json()["user"] == {"id": 1, "name": "admin", "role": "admin"}
    gateway.client.cookies.clear()
    second = await gateway.client.post("/api/auth/signin", json={"link": token}, headers=ORIGIN)
    assert second.status_code == 401
    assert "used or expired" in second.json()["error"]["message"]


async def test_expired_link_is_refused(gateway: Gateway) -> None:
    await gateway.services.accounts.create_user("late")
    token = await gateway.services.accounts.create_signin_link("late", timedelta(seconds=-1))
    response = await gateway.client.post("/api/auth/signin", json={"link": token}, headers=ORIGIN)
    assert response.status_code == 401


@pytest.mark.parametrize("body", [{}, {"key": "a", "link": "b"}, {"password": "x"}])
async def test_sign_in_needs_exactly_one_credential(gateway: Gateway, body: dict[str, str]) -> None:
    response = await gateway.client.post("/api/auth/signin", json=body, headers=ORIGIN)
    assert response.status_code == 400
    assert response.json()["error"]["param"] in {"key", "password"}


# -- JWT from an identity provider ----------------------------------------------------------------

ISSUER = "https://id.example"
AUDIENCE = "voxgate"


@pytest.fixture(scope="module")
def identity_provider() -> Iterator[tuple[str, Any]]:
    """A JWKS endpoint on 127.0.0.1 and the private key that signs its tokens."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key()))
    jwk.update(kid="test-key", use="sig", alg="RS256")

    async def jwks(_request: Any) -> JSONResponse:
        return JSONResponse({"keys": [jwk]})

    with ServerThread(Starlette(routes=[Route("/jwks.json", jwks)])) as server:
        yield f"{server.url}/jwks.json", private_key


def _token(private_key: Any, **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-42", "exp": now + 300, "iat": now, **claims}
    return jwt.encode(payload, private_key, algorithm="RS256", headers={"kid": "test-key"})


async def test_jwt_from_identity_provider(
    gateway_factory: Any, identity_provider: tuple[str, Any], fake_openai: FakeOpenAIState
) -> None:
    jwks_url, private_key = identity_provider
    settings = {"jwt_issuer": ISSUER, "jwt_audience": AUDIENCE, "jwt_jwks_url": jwks_url}
    async with gateway_factory(**settings) as gw:
        good = _token(private_key, preferred_username="ada")
        response = await gw.mint(good)
        assert response.status_code == 200, response.text
        me = await gw.client.get("/api/me", headers={"Authorization": f"Bearer {good}"})
        assert me.json()["user"]["name"] == "ada"
        assert me.json()["auth"] == "jwt"
        # The same subject is the same user next time.
        again = await gw.client.get("/api/me", headers={"Authorization": f"Bearer {_token(private_key)}"})
        assert again.json()["user"]["id"] == me.json()["user"]["id"]
        for bad in (
            _token(private_key, aud="someone-else"),
            _token(private_key, iss="https://other.example"),
            _token(private_key, exp=int(time.time()) - 60),
            _token(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        ):
            assert (await gw.mint(bad)).status_code == 401


# -- revocation and sign-out take effect at once ----------------------------------------------------

SDP_HEADERS = {"Content-Type": "application/sdp"}


async def _relay_with(gw: Gateway, ticket: str) -> httpx.Response:
    """Present a relay ticket at the relay with an empty offer: 400 (no SDP) once the ticket is accepted,
    401 when it is not; nothing reaches the upstream either way."""
    headers = {**SDP_HEADERS, "Authorization": f"Bearer {ticket}"}
    return await gw.client.post("/api/realtime/calls", content=b"", headers=headers)


@asynccontextmanager
async def _signed_in(gw: Gateway, key: str) -> AsyncIterator[httpx.AsyncClient]:
    """Another browser tab: a client of its own, signed in with ``key``."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=gw.app), base_url="http://testserver"
    ) as tab:
        response = await tab.post("/api/auth/signin", json={"key": key}, headers=ORIGIN)
        assert response.status_code == 200, response.text
        yield tab


async def _ticket(client: httpx.AsyncClient, **headers: str) -> str:
    minted = await client.post("/api/realtime-token", headers={**ORIGIN, **headers})
    assert minted.status_code == 200, minted.text
    value: str = minted.json()["value"]
    assert value.startswith("ek_vgt_")
    return value


async def test_revoking_a_key_ends_its_browser_sessions_and_their_tickets(gateway_factory: Any) -> None:
    async with gateway_factory(console_mode="relay") as gw:
        accounts = gw.services.accounts
        await accounts.create_user("rae")
        _, key1 = await accounts.create_api_key("rae", "laptop")
        _, key2 = await accounts.create_api_key("rae", "phone")
        async with _signed_in(gw, key1) as tab1, _signed_in(gw, key2) as tab2:
            session_ticket = await _ticket(tab1)
            key_ticket = await _ticket(gw.client, Authorization=f"Bearer {key1}")
            other_ticket = await _ticket(tab2)
            for ticket in (session_ticket, key_ticket, other_ticket):
                assert (await _relay_with(gw, ticket)).status_code == 400
            laptop = next(k for k in await accounts.list_api_keys("rae") if k.name == "laptop")
            await accounts.revoke_api_key(laptop.id)
            # The console's next request says why.
            me = await tab1.get("/api/me")
            assert me.status_code == 401
            assert me.json()["error"]["code"] == "key_revoked"
            assert "signed in with has been revoked" in me.json()["error"]["message"]
            assert (await tab1.post("/api/realtime-token", headers=ORIGIN)).status_code == 401
            for ticket in (session_ticket, key_ticket):
                refused = await _relay_with(gw, ticket)
                assert refused.status_code == 401
            # The other key, its session and its ticket are untouched.
            assert (await tab2.get("/api/me")).status_code == 200
            assert (await _relay_with(gw, other_ticket)).status_code == 400
            assert (await gw.client.get("/api/me", headers={"Authorization": f"Bearer {key2}"})).is_success


async def test_signing_out_ends_the_tickets_the_session_fetched(gateway_factory: Any) -> None:
    async with gateway_factory(console_mode="relay") as gw:
        _, key = await gw.user_with_key("sig")
        async with _signed_in(gw, key) as tab:
            ticket = await _ticket(tab)
            assert (await _relay_with(gw, ticket)).status_code == 400
            cookie = tab.cookies[COOKIE_NAME]
            assert (await tab.post("/api/auth/signout", headers=ORIGIN)).status_code == 204
        assert (await _relay_with(gw, ticket)).status_code == 401
        # Another tab still holding the cookie is told why.
        other_tab = await gw.client.get("/api/me", headers={"Cookie": f"{COOKIE_NAME}={cookie}"})
        assert other_tab.status_code == 401
        assert other_tab.json()["error"]["code"] == "session_revoked"
        # The key itself still works: signing out ends a session, not the key.
        assert (await gw.client.get("/api/me", headers={"Authorization": f"Bearer {key}"})).is_success


async def test_disabling_a_user_ends_every_session_and_ticket_and_says_why(gateway_factory: Any) -> None:
    async with gateway_factory(console_mode="relay") as gw:
        accounts = gw.services.accounts
        _, key = await gw.user_with_key("dee")
        link = await accounts.create_signin_link("dee", timedelta(minutes=5))
        async with (
            _signed_in(gw, key) as tab,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=gw.app), base_url="http://testserver"
            ) as tab2,
        ):
            assert (await tab2.post("/api/auth/signin", json={"link": link}, headers=ORIGIN)).is_success
            tickets = [
                await _ticket(tab),
                await _ticket(tab2),
                await _ticket(gw.client, Authorization=f"Bearer {key}"),
            ]
            await accounts.set_disabled("dee")
            for client in (tab, tab2):
                me = await client.get("/api/me")
                assert me.status_code == 401
                assert me.json()["error"]["code"] == "user_disabled"
                assert "disabled" in me.json()["error"]["message"]
            by_key = await gw.client.get("/api/me", headers={"Authorization": f"Bearer {key}"})
            assert by_key.json()["error"]["code"] == "user_disabled"
            for ticket in tickets:
                assert (await _relay_with(gw, ticket)).status_code == 401
            # Enabled again: the key works again, but sessions and tickets stay ended.
            await accounts.set_disabled("dee", False)
            assert (await gw.client.get("/api/me", headers={"Authorization": f"Bearer {key}"})).is_success
            assert (await tab.get("/api/me")).json()["error"]["code"] == "session_expired"
            for ticket in tickets:
                assert (await _relay_with(gw, ticket)).status_code == 401


# -- what reaches the database: lengths and characters checked at the edge ------------------------


async def test_text_that_cannot_be_stored_is_a_400_naming_the_field(
    gateway_factory: Any, database_url: str
) -> None:
    async with gateway_factory(database_url=database_url) as gw:
        _, key = await gw.user_with_key("ida")
        _, admin_key = await gw.user_with_key("root", "admin")
        auth = {"Authorization": f"Bearer {key}"}
        cases: list[tuple[str, str, dict[str, Any], str]] = [
            (
                "POST",
                "/api/client-metrics",
                {"json": {"event": "connect", "error_code": "a\x00b"}},
                "error_code",
            ),
            (
                "POST",
                "/api/client-metrics",
                {"json": {"event": "connect", "error_code": "e" * 65}},
                "error_code",
            ),
            ("POST", "/api/client-metrics", {"json": {"event": "connect", "outcome": "a\x00"}}, "outcome"),
            ("POST", "/api/auth/signin", {"json": {"key": "vg_\x00" + "A" * 40}}, "key"),
            ("POST", "/api/auth/signin", {"json": {"link": "vgl_" + "\u00e9" * 40}}, "link"),
            ("POST", "/api/auth/signin", {"json": {"key": "vg_" + "A" * 300}}, "key"),
        ]
        for method, path, kwargs, param in cases:
            response = await gw.client.request(method, path, headers={**auth, **ORIGIN}, **kwargs)
            assert response.status_code == 400, (path, kwargs, response.text)
            assert response.json()["error"]["param"] == param
        for user in ("a\x00b", "x" * 201):
            listed = await gw.client.get(
                "/api/calls", params={"user": user}, headers={"Authorization": f"Bearer {admin_key}"}
            )
            assert listed.status_code == 400, listed.text
            assert listed.json()["error"]["param"] == "user"
        accounts = gw.services.accounts
        for bad in ("nul\x00name", "n" * 201, "tab\tname"):
            with pytest.raises(InvalidRequest) as error:
                await accounts.create_user(bad)
            assert error.value.param == "name"
            with pytest.raises(NotFound):
                await accounts.get_user(bad)
        with pytest.raises(InvalidRequest) as error:
            await accounts.create_api_key("ida", "key\x00name")
        assert error.value.param == "key_name"
        # Nothing above was a server error, and the good rows are untouched.
        assert [u.name for u in await accounts.list_users()] == ["ida", "root"]


async def test_jwt_claims_are_checked_before_they_reach_the_database(
    gateway_factory: Any, identity_provider: tuple[str, Any], database_url: str
) -> None:
    jwks_url, private_key = identity_provider
    settings = {"jwt_issuer": ISSUER, "jwt_audience": AUDIENCE, "jwt_jwks_url": jwks_url}
    async with gateway_factory(database_url=database_url, **settings) as gw:
        for sub in ("nul\x00sub", "s" * 257, "line\nbreak"):
            token = _token(private_key, sub=sub)
            response = await gw.client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401, response.text
            assert response.json()["error"]["code"] == "invalid_token"
        # Display names are made fit rather than refused: control characters dropped, length capped.
        token = _token(private_key, sub="long-name", preferred_username="Ada\x00 " + "L" * 500)
        me = await gw.client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200, me.text
        name = me.json()["user"]["name"]
        assert name.startswith("Ada L") and "\x00" not in name and len(name) <= 160
        # A name nobody usable: the subject stands in.
        token = _token(private_key, sub="only-sub", preferred_username="\x00\x01", email=42)
        me = await gw.client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["user"]["name"] == "only-sub"
        # The same display name for two subjects: the second gets a suffix, within the column.
        token = _token(private_key, sub="long-name-2", preferred_username="Ada\x00 " + "L" * 500)
        other = await gw.client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert other.status_code == 200, other.text
        assert other.json()["user"]["name"] != name
        assert len(other.json()["user"]["name"]) <= 200


# -- the console says why, in a real browser --------------------------------------------------------


@pytest.mark.browser
def test_the_console_says_why_its_session_ended(make_settings: Any, chromium: Any) -> None:
    """Signed in with a key, the tab's next request after the key is revoked says so in plain words; after
    the user is disabled, it says that."""
    from voxgate.adapters.sql import AccountStore, Database
    from voxgate.web.app import create_app

    settings = make_settings(console_mode="relay")

    async def with_accounts(action: Any) -> Any:
        db = Database(settings.effective_database_url)
        try:
            await db.migrate()
            return await action(AccountStore(db))
        finally:
            await db.aclose()

    async def setup(accounts: AccountStore) -> str:
        await accounts.create_user("tab")
        return (await accounts.create_api_key("tab"))[1]

    async def revoke(accounts: AccountStore) -> None:
        (info,) = await accounts.list_api_keys("tab")
        await accounts.revoke_api_key(info.id)

    async def disable(accounts: AccountStore) -> None:
        await accounts.set_disabled("tab")

    key = in_thread(with_accounts(setup))
    with ServerThread(create_app(settings)) as server:
        page = chromium.new_page()
        try:
            for action, said in (
                (revoke, "The API key you signed in with has been revoked."),
                (disable, "Your account has been disabled."),
            ):
                if action is disable:
                    key = in_thread(with_accounts(lambda a: a.create_api_key("tab", "second")))[1]
                page.goto(f"{server.url}/")
                page.fill("#key", key)
                page.click("#signin-form button[type=submit]")
                page.locator("#console").wait_for(state="visible")
                in_thread(with_accounts(action))
                page.click("a[data-view=history]")
                error = page.locator("#error")
                error.get_by_text(said).wait_for()
                page.locator("#console").wait_for(state="hidden")
        finally:
            page.close()
