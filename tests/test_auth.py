"""Who may mint: keys, cookies, one-time links, JWTs; lockout after repeated failures; Origin checks."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.conftest import Gateway
from tests.support.fake_openai import FakeOpenAIState
from tests.support.server import ServerThread
from voxgate.cli import bootstrap
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


async def test_repeated_failures_lock_the_address_out(
    gateway_factory: Any, fake_openai: FakeOpenAIState
) -> None:
    async with gateway_factory(limits={"auth_failures_per_ip": "5/minute"}) as gw:
        _, good_key = await gw.user_with_key()
        statuses = [(await gw.mint("vg_" + "B" * 43)).status_code for _ in range(5)]
        assert statuses == [401] * 5
        locked = await gw.mint(good_key)
        assert locked.status_code == 429
        assert locked.json()["error"]["code"] == "too_many_auth_failures"
        assert int(locked.headers["Retry-After"]) >= 1
        signin = await gw.client.post("/api/auth/signin", json={"key": good_key}, headers=ORIGIN)
        assert signin.status_code == 429


async def test_sign_in_with_key_sets_a_strict_httponly_cookie(
    gateway: Gateway, fake_openai: FakeOpenAIState
) -> None:
    user, key = await gateway.user_with_key("kim")
    response = await gateway.client.post("/api/auth/signin", json={"key": key}, headers=ORIGIN)
    assert response.status_code == 200
    assert response.json() == {
        "user": {"id": user.id, "name": "kim", "role": "user"},
        "auth": "cookie",
        # The gateway fixture runs ephemeral mode against the strict fake, not the local engine.
        "console_mode": "ephemeral",
        "simulated_cost": False,
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
