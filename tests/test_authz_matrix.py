"""The authorization matrix: every route of the app × every kind of caller, with the status each must get.

The routes come from the app's own route table, so a new route cannot be missed: it fails this test until
it has an expectation here. Each request uses real objects (user A's call in the ledger, real keys, a real
browser session) and a fresh client, so no cookie carries over from one cell to another.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import Mount

from tests.conftest import Gateway
from voxgate.core import credentials
from voxgate.core.ledger import NewCall
from voxgate.web.auth import COOKIE_NAME

ORIGIN = "http://testserver"
CALLERS = ("anonymous", "user_a", "user_b", "disabled", "revoked_key", "revoked_key_session", "admin")
DENIED = {  # what a caller with no valid credential gets, everywhere authentication is needed
    "anonymous": (401, "missing_credentials"),
    "disabled": (401, "user_disabled"),
    "revoked_key": (401, "key_revoked"),
    "revoked_key_session": (401, "key_revoked"),
}


@dataclass
class World:
    """The real objects the requests name, and how each caller proves who it is."""

    gw: Gateway
    user_a_id: int
    headers: dict[str, dict[str, str]]
    keys: dict[str, str] = field(default_factory=dict)
    config: str = "upstream"

    async def call_of_a(self, *, ended: bool) -> str:
        """A fresh call of user A's in the ledger (so deleting it in one cell leaves the others theirs)."""
        ledger = self.gw.services.ledger
        call = await ledger.open_call(
            NewCall("rtc_" + secrets.token_hex(8), self.user_a_id, "relay", "gpt-realtime-2.1", "marin", None)
        )
        if ended:
            await ledger.end_call(call.id, "hangup")
        return str(call.id)


@dataclass(frozen=True)
class Probe:
    """One request against a route, and the status each caller gets (``None``: the caller's denial)."""

    method: str
    path: Callable[[World], Awaitable[str]] | str
    expected: dict[str, int | tuple[int, ...] | None]
    json: Any = None
    content: bytes | None = None
    content_type: str | None = None
    signin_body: bool = False  # send the caller's own key in the body instead of as a header


def everyone(status: int | tuple[int, ...]) -> dict[str, int | tuple[int, ...] | None]:
    return dict.fromkeys(CALLERS, status)


def signed_in(
    ok: int, *, b: int | None = None, admin: int | None = None
) -> dict[str, int | tuple[int, ...] | None]:
    """``ok`` for A (and for B and the admin unless given), the denial for the rest."""
    return {
        **dict.fromkeys(DENIED, None),
        "user_a": ok,
        "user_b": ok if b is None else b,
        "admin": ok if admin is None else admin,
    }


def admin_only(ok: int) -> dict[str, int | tuple[int, ...] | None]:
    """``ok`` for the admin, 403 for signed-in users, the denial for the rest."""
    return {**dict.fromkeys(DENIED, None), "user_a": 403, "user_b": 403, "admin": ok}


async def a_live_call_end(world: World) -> str:
    # Ended by the time the admin asks: 404 (no upstream needed); what counts is who is refused.
    return f"/api/admin/calls/{await world.call_of_a(ended=True)}/end"


async def a_live_call_instructions(world: World) -> str:
    return f"/api/admin/calls/{await world.call_of_a(ended=True)}/instructions"


async def a_call_events(world: World) -> str:
    return f"/api/calls/{await world.call_of_a(ended=True)}/events"


async def a_call(world: World) -> str:
    return f"/api/calls/{await world.call_of_a(ended=True)}"


async def a_call_export(world: World) -> str:
    return f"/api/calls/{await world.call_of_a(ended=True)}/export"


async def a_call_hangup(world: World) -> str:
    # Ended: hanging up is then a no-op (204) for those who may, and needs no upstream.
    return f"/api/calls/{await world.call_of_a(ended=True)}/hangup"


async def a_call_page(world: World) -> str:
    return f"/history/{await world.call_of_a(ended=True)}"


ADMIN_PAGES = ("/admin", "/admin/users", "/admin/keys", "/admin/budgets", "/admin/calls", "/admin/audit")

# Every route, by (method, path template), or ("MOUNT", path) for mounted apps.
MATRIX: dict[tuple[str, str], list[Probe]] = {
    ("GET", "/openapi.json"): [Probe("GET", "/openapi.json", everyone(200))],
    ("GET", "/healthz"): [Probe("GET", "/healthz", everyone(200))],
    ("GET", "/readyz"): [Probe("GET", "/readyz", everyone(200))],
    # Public: what counts is the key in the body (each caller sends its own; anonymous an unknown one).
    ("POST", "/api/auth/signin"): [
        Probe(
            "POST",
            "/api/auth/signin",
            {**signed_in(200), "anonymous": 401, "revoked_key_session": 401},
            signin_body=True,
        )
    ],
    ("POST", "/api/auth/signout"): [Probe("POST", "/api/auth/signout", everyone(204))],
    ("GET", "/api/me"): [Probe("GET", "/api/me", signed_in(200))],
    ("POST", "/api/realtime-token"): [Probe("POST", "/api/realtime-token", signed_in(200))],
    # An empty offer: 400 once the caller is known, the denial before that.
    ("POST", "/api/realtime/calls"): [
        Probe("POST", "/api/realtime/calls", signed_in(400), content=b"", content_type="application/sdp")
    ],
    # GPT-Live's relay: an empty offer, 400 once the caller is known, the denial before that.
    ("POST", "/api/live/sessions"): [
        Probe(
            "POST",
            "/api/live/sessions",
            signed_in(400),
            json={"session": {}, "transport": {"type": "webrtc", "sdp": ""}},
        )
    ],
    ("POST", "/api/client-metrics"): [
        Probe("POST", "/api/client-metrics", signed_in(204), json={"event": "connect"})
    ],
    ("GET", "/api/calls"): [
        Probe("GET", "/api/calls", signed_in(200)),
        Probe("GET", "/api/calls?all=true", signed_in(403, admin=200)),
        Probe("GET", "/api/calls?user=user-a", signed_in(200, b=403)),
    ],
    ("GET", "/api/calls/{call_id}"): [Probe("GET", a_call, signed_in(200, b=404))],
    ("GET", "/api/calls/{call_id}/export"): [Probe("GET", a_call_export, signed_in(200, b=404))],
    ("DELETE", "/api/calls/{call_id}"): [Probe("DELETE", a_call, signed_in(204, b=404))],
    ("POST", "/api/calls/{call_id}/hangup"): [Probe("POST", a_call_hangup, signed_in(204, b=404))],
    ("GET", "/api/calls/{call_id}/events"): [Probe("GET", a_call_events, signed_in(200, b=404))],
    # The admin API: admins only, 403 for every other signed-in user.
    ("GET", "/api/admin/users"): [Probe("GET", "/api/admin/users", admin_only(200))],
    ("POST", "/api/admin/users"): [
        Probe("POST", "/api/admin/users", admin_only(201), json={"name": "by-admin"})
    ],
    ("POST", "/api/admin/users/{name}/disable"): [
        Probe("POST", "/api/admin/users/nobody/disable", admin_only(404))
    ],
    ("POST", "/api/admin/users/{name}/enable"): [
        Probe("POST", "/api/admin/users/nobody/enable", admin_only(404))
    ],
    ("POST", "/api/admin/users/{name}/role"): [
        Probe("POST", "/api/admin/users/nobody/role", admin_only(404), json={"role": "admin"})
    ],
    ("POST", "/api/admin/users/{name}/signin-link"): [
        Probe("POST", "/api/admin/users/root/signin-link", admin_only(200))
    ],
    ("GET", "/api/admin/keys"): [Probe("GET", "/api/admin/keys", admin_only(200))],
    ("POST", "/api/admin/keys"): [Probe("POST", "/api/admin/keys", admin_only(201), json={"user": "root"})],
    ("POST", "/api/admin/keys/{key_id}/revoke"): [
        Probe("POST", "/api/admin/keys/999999/revoke", admin_only(404))
    ],
    ("GET", "/api/admin/budgets/{name}"): [Probe("GET", "/api/admin/budgets/user-a", admin_only(200))],
    ("PUT", "/api/admin/budgets/{name}"): [
        Probe("PUT", "/api/admin/budgets/user-a", admin_only(200), json={"usd_per_day": "5"})
    ],
    ("DELETE", "/api/admin/budgets/{name}"): [Probe("DELETE", "/api/admin/budgets/user-a", admin_only(200))],
    ("GET", "/api/admin/calls/live"): [Probe("GET", "/api/admin/calls/live", admin_only(200))],
    ("POST", "/api/admin/calls/{call_id}/end"): [Probe("POST", a_live_call_end, admin_only(404))],
    ("POST", "/api/admin/calls/{call_id}/instructions"): [
        Probe("POST", a_live_call_instructions, admin_only(404), json={"instructions": "Be brief."})
    ],
    ("GET", "/api/admin/audit"): [Probe("GET", "/api/admin/audit?failed=true", admin_only(200))],
    ("GET", "/api/admin/dashboard"): [Probe("GET", "/api/admin/dashboard", admin_only(200))],
    # The dashboard's page itself is for admins: signed-in users get 403, the rest are sent to sign in.
    ("GET", "/admin/dashboard"): [
        Probe(
            "GET",
            "/admin/dashboard",
            {**dict.fromkeys(DENIED, 303), "user_a": 403, "user_b": 403, "admin": 200},
        )
    ],
    # /metrics answers callers on this machine (the test client is loopback), whoever they are.
    ("GET", "/metrics"): [Probe("GET", "/metrics", everyone(200))],
    # The admin console's page is public like the console's: its API refuses non-admins.
    **{("GET", path): [Probe("GET", path, everyone(200))] for path in ADMIN_PAGES},
    # The console's pages are public (the page asks the API, which decides).
    ("GET", "/"): [Probe("GET", "/", everyone(200))],
    ("GET", "/signin"): [Probe("GET", "/signin", everyone(200))],
    ("GET", "/history"): [Probe("GET", "/history", everyone(200))],
    ("GET", "/history/{call_id}"): [Probe("GET", a_call_page, everyone(200))],
    ("GET", "/favicon.ico"): [Probe("GET", "/favicon.ico", everyone(200))],
    ("GET", "/docs"): [Probe("GET", "/docs", everyone(200))],
    ("MOUNT", "/static"): [Probe("GET", "/static/errors.js", everyone(200))],
    ("MOUNT", "/docs-assets"): [Probe("GET", "/docs-assets/swagger-ui.css", everyone(200))],
}


# The embedded engine (voxgate with no upstream configured) is mounted under /engine: it takes only the
# gateway's own internal key, so no voxgate credential of any kind opens it.
EMBEDDED_ONLY: dict[tuple[str, str], list[Probe]] = {
    ("MOUNT", "/engine"): [
        Probe("GET", "/engine/v1/models", everyone(401)),
        Probe("POST", "/engine/v1/realtime/client_secrets", everyone(401), json={}),
        Probe(
            "POST", "/engine/v1/realtime/calls", everyone(401), content=b"", content_type="application/sdp"
        ),
    ],
    # Readiness asks the engine over loopback at the configured port, where no server listens in this
    # test: either answer is right here, and neither depends on the caller.
    ("GET", "/readyz"): [Probe("GET", "/readyz", everyone((200, 503)))],
}
CONFIGS: dict[str, dict[str, Any]] = {
    # An OpenAI-compatible upstream (the strict fake), the console on upstream ephemeral keys.
    "upstream": {},
    # Nothing configured: the embedded engine, the console on relay tickets.
    "embedded": {"OPENAI_API_KEY": None, "upstream_url": None, "console_mode": "relay"},
}


def matrix(config: str) -> dict[tuple[str, str], list[Probe]]:
    return {**MATRIX, **EMBEDDED_ONLY} if config == "embedded" else dict(MATRIX)


def route_table(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the app serves, included routers flattened, and every mount."""
    found: set[tuple[str, str]] = set()

    def add(path: str, methods: set[str] | None) -> None:
        for method in methods or ():
            if method != "HEAD":  # answered by GET's handler
                found.add((method, path))

    for route in app.routes:
        if isinstance(route, Mount):
            found.add(("MOUNT", route.path))
        elif hasattr(route, "effective_route_contexts"):  # an included router (FastAPI ≥ 0.16x)
            for context in route.effective_route_contexts():
                add(context.path, getattr(context.original_route, "methods", None))
        else:
            add(getattr(route, "path", ""), getattr(route, "methods", None))
    return found


@pytest.fixture(params=list(CONFIGS))
async def world(request: pytest.FixtureRequest, gateway_factory: Callable[..., Any]) -> AsyncIterator[World]:
    # Many denied requests come from one address here: the lockout is another test's subject.
    settings = {
        "limits": {"auth_failures_per_ip": "10000/minute"},
        "supervisor": {"scan_interval_s": 3600.0},
        **CONFIGS[request.param],
    }
    async with gateway_factory(**settings) as gw:
        accounts = gw.services.accounts
        user_a, key_a = await gw.user_with_key("user-a")
        _, key_b = await gw.user_with_key("user-b")
        _, key_admin = await gw.user_with_key("root", "admin")
        _, key_disabled = await gw.user_with_key("gone")
        await accounts.set_disabled("gone")
        revoked_user = await accounts.create_user("rev")
        _, key_revoked = await accounts.create_api_key("rev")
        signin = await gw.client.post(
            "/api/auth/signin", json={"key": key_revoked}, headers={"Origin": ORIGIN}
        )
        assert signin.status_code == 200
        cookie = gw.client.cookies[COOKIE_NAME]
        gw.client.cookies.clear()
        (info,) = await accounts.list_api_keys("rev")
        await accounts.revoke_api_key(info.id)
        assert revoked_user.id != user_a.id
        keys = {
            "user_a": key_a,
            "user_b": key_b,
            "admin": key_admin,
            "disabled": key_disabled,
            "revoked_key": key_revoked,
            "revoked_key_session": key_revoked,
            "anonymous": credentials.issue(credentials.API_KEY_PREFIX).value,
        }
        headers = {name: {"Authorization": f"Bearer {key}"} for name, key in keys.items()}
        headers["anonymous"] = {}
        headers["revoked_key_session"] = {"Cookie": f"{COOKIE_NAME}={cookie}"}
        yield World(gw, user_a.id, headers, keys, config=request.param)


@pytest.mark.parametrize("config", list(CONFIGS))
def test_every_route_has_an_expectation(config: str, make_settings: Any) -> None:
    from voxgate.web.app import create_app

    expected = matrix(config)
    served = route_table(create_app(make_settings(**CONFIGS[config])))
    assert served - expected.keys() == set(), "routes with no authorization expectation: add them to MATRIX"
    assert expected.keys() - served == set(), "expectations for routes that no longer exist"
    for probes in expected.values():
        for probe in probes:
            assert set(probe.expected) == set(CALLERS)


async def test_authorization_matrix(world: World) -> None:
    expected = matrix(world.config)
    assert route_table(world.gw.app) == expected.keys()
    failures = []
    cells = 0
    for (_method, template), probes in expected.items():
        for probe in probes:
            for caller in CALLERS:
                path = probe.path if isinstance(probe.path, str) else await probe.path(world)
                headers = {"Origin": ORIGIN, **world.headers[caller]}
                kwargs: dict[str, Any] = {}
                if probe.signin_body:
                    headers.pop("Authorization", None)
                    kwargs["json"] = {"key": world.keys[caller]}
                elif probe.json is not None:
                    kwargs["json"] = probe.json
                if probe.content is not None:
                    kwargs["content"] = probe.content
                    headers["Content-Type"] = probe.content_type or "application/octet-stream"
                transport = httpx.ASGITransport(app=world.gw.app)
                async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
                    response = await client.request(probe.method, path, headers=headers, **kwargs)
                cells += 1
                want: int | tuple[int, ...] | None = probe.expected[caller]
                want_code: str | None = None
                if want is None:
                    want, want_code = DENIED[caller]
                wanted = want if isinstance(want, tuple) else (want,)
                got_code = (
                    response.json().get("error", {}).get("code") if response.status_code >= 400 else None
                )
                if response.status_code not in wanted or (want_code is not None and got_code != want_code):
                    failures.append(
                        f"{probe.method} {path} ({template}) as {caller}: {response.status_code} {got_code}, "
                        f"expected {want} {want_code or ''}"
                    )
                if response.status_code >= 400:
                    error = response.json()["error"]
                    assert set(error) == {"type", "code", "message", "param"}, (path, caller, error)
    assert failures == [], "\n".join(failures)
    assert cells == sum(len(p) for p in expected.values()) * len(CALLERS)
