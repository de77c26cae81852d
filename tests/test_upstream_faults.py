"""A bad day upstream: every fault answers with its documented status, in time, audited, and leaves no
task or connection behind.

The upstream is a fault-injecting app on 127.0.0.1 (``tests/support/fault_upstream.py``): hangs, slow
bodies, connections dropped mid-answer or reset, 5xx, 429 with absurd ``Retry-After``, malformed JSON,
the wrong shape, huge bodies (announced or chunked), huge error messages, a gzip bomb, redirects to
another origin, a bad ``Location`` and a non-SDP answer. Each is tried on minting (ephemeral mode) and
on the relay. "In time" is a hang detector (the configured ``upstream_timeout`` plus generous slack),
not a speed measurement.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import Gateway
from tests.support.fault_upstream import FaultState, ResetServer, create_fault_upstream
from tests.support.server import ServerThread, free_port
from voxgate.adapters.sql.tables import mint_audit
from voxgate.adapters.upstream import answers

UPSTREAM_TIMEOUT = 1.0
# Far more than any fault needs; a request still running after this is hung.
HANG_BOUND = UPSTREAM_TIMEOUT + 5.0
OFFER = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"

# fault -> (status, code) for minting and for the relay.
EXPECTED: dict[str, tuple[tuple[int, str], tuple[int, str]]] = {
    "hang": ((504, "upstream_timeout"), (504, "upstream_timeout")),
    "slow_body": ((504, "upstream_timeout"), (504, "upstream_timeout")),
    "drop_mid_body": ((502, "upstream_unreachable"), (502, "upstream_unreachable")),
    "server_error": ((502, "upstream_error"), (502, "upstream_error")),
    "bad_gateway_html": ((502, "upstream_error"), (502, "upstream_error")),
    "rate_limited": ((503, "upstream_rate_limited"), (503, "upstream_rate_limited")),
    "malformed_json": ((502, "upstream_bad_response"), (502, "upstream_bad_response")),
    "wrong_shape": ((502, "upstream_bad_response"), (502, "upstream_bad_response")),
    "huge_body": ((502, "upstream_bad_response"), (502, "upstream_bad_response")),
    "huge_chunked": ((502, "upstream_bad_response"), (502, "upstream_bad_response")),
    "huge_error": ((502, "upstream_rejected"), (400, "invalid_offer")),
    "gzip_bomb": ((502, "upstream_bad_response"), (502, "upstream_bad_response")),
    "redirect": ((502, "upstream_bad_response"), (502, "upstream_bad_response")),
    "bad_location": ((200, ""), (502, "upstream_bad_response")),
    "not_sdp": ((200, ""), (502, "upstream_bad_response")),
}


@pytest.fixture(scope="module")
def faulty() -> Iterator[tuple[str, FaultState, FaultState]]:
    """The faulty upstream, and another origin it redirects to (which must never be asked)."""
    state, elsewhere = FaultState(), FaultState()
    with (
        ServerThread(create_fault_upstream(state)) as server,
        ServerThread(create_fault_upstream(elsewhere)) as other,
    ):
        state.redirect_to = other.url
        yield server.url, state, elsewhere


def _connector(gw: Gateway) -> Any:
    """The connection pool (aiohttp's connector) of the SDK's HTTP client inside the upstream adapter."""
    return gw.services.upstream._client._client._transport.client.connector


async def _settled(baseline: set[asyncio.Task[Any]]) -> set[asyncio.Task[Any]]:
    """The tasks started since ``baseline`` still running once the request's work has wound down."""
    current = asyncio.current_task()
    async with asyncio.timeout(3):
        while True:
            extra = {
                t for t in asyncio.all_tasks() if t not in baseline and t is not current and not t.done()
            }
            if not extra:
                return extra
            await asyncio.sleep(0.02)


async def _attempt(gw: Gateway, key: str, path: str) -> httpx.Response:
    auth = {"Authorization": f"Bearer {key}"}
    async with asyncio.timeout(HANG_BOUND):
        if path == "mint":
            return await gw.mint(key)
        return await gw.client.post(
            "/api/realtime/calls", content=OFFER, headers={**auth, "Content-Type": "application/sdp"}
        )


async def _audit_outcomes(gw: Gateway) -> list[tuple[str, int]]:
    async with gw.services.db.engine.connect() as conn:
        rows = (await conn.execute(select(mint_audit.c.outcome, mint_audit.c.status))).all()
    return [(row.outcome, row.status) for row in rows]


async def _check_fault(gw: Gateway, key: str, path: str, expected: tuple[int, str]) -> httpx.Response:
    """One request under the current fault: its status and code, its audit row, no task or connection
    left behind."""
    baseline = set(asyncio.all_tasks())
    audited = len(await _audit_outcomes(gw))
    response = await _attempt(gw, key, path)
    status, code = expected
    assert response.status_code == status, f"{path}: {response.status_code} {response.text[:300]}"
    if status >= 400:
        error = response.json()["error"]
        assert set(error) == {"type", "code", "message", "param"}
        assert error["code"] == code, f"{path}: {error}"
        assert len(error["message"]) <= 700
        assert (await _audit_outcomes(gw))[audited:] == [(code, status)], f"{path}: not audited"
    assert not await _settled(baseline), f"{path}: a task outlived the request"
    connector = _connector(gw)
    assert not connector._acquired, f"{path}: a connection is still held"
    assert not any(connector._waiters.values()), f"{path}: a request is still queued in the pool"
    return response


@pytest.mark.parametrize("fault", sorted(EXPECTED))
async def test_each_fault_has_its_documented_answer(
    gateway_factory: Any, faulty: tuple[str, FaultState, FaultState], fault: str
) -> None:
    url, state, elsewhere = faulty
    elsewhere.hits.clear()
    async with gateway_factory(upstream_url=f"{url}/v1", upstream_timeout=UPSTREAM_TIMEOUT) as gw:
        _, key = await gw.user_with_key()
        state.mode = fault
        try:
            for path, expected in zip(("mint", "relay"), EXPECTED[fault], strict=True):
                response = await _check_fault(gw, key, path, expected)
                if fault == "rate_limited":
                    assert 1 <= int(response.headers["retry-after"]) <= 3600
        finally:
            state.mode = "ok"
    assert elsewhere.hits == [], "a redirect to another origin was followed"


@pytest.mark.parametrize(
    "retry_after", ["-5", "0", "nan", "inf", "1e308", "soon", "Wed, 21 Oct 2099 07:28:00 GMT"]
)
async def test_absurd_retry_after_is_clamped(
    gateway_factory: Any, faulty: tuple[str, FaultState, FaultState], retry_after: str
) -> None:
    url, state, _ = faulty
    async with gateway_factory(upstream_url=f"{url}/v1", upstream_timeout=UPSTREAM_TIMEOUT) as gw:
        _, key = await gw.user_with_key()
        state.mode, state.retry_after = "rate_limited", retry_after
        try:
            response = await _attempt(gw, key, "mint")
        finally:
            state.mode, state.retry_after = "ok", "99999999"
    assert response.status_code == 503
    assert 1 <= int(response.headers["retry-after"]) <= 3600


async def test_reset_and_refused_connections_are_502_unreachable(gateway_factory: Any) -> None:
    closed_port = f"http://127.0.0.1:{free_port()}/v1"
    with ResetServer() as reset:
        for upstream in (f"{reset.url}/v1", closed_port):
            async with gateway_factory(upstream_url=upstream, upstream_timeout=UPSTREAM_TIMEOUT) as gw:
                _, key = await gw.user_with_key()
                for path in ("mint", "relay"):
                    await _check_fault(gw, key, path, (502, "upstream_unreachable"))
        assert reset.resets >= 2


async def test_readiness_shows_an_outage_at_once_and_never_asks_the_upstream_per_request(
    gateway_factory: Any, faulty: tuple[str, FaultState, FaultState]
) -> None:
    url, state, _ = faulty
    async with gateway_factory(upstream_url=f"{url}/v1", upstream_timeout=UPSTREAM_TIMEOUT) as gw:
        _, key = await gw.user_with_key()
        state.hits.clear()
        ready = await asyncio.gather(*(gw.client.get("/readyz") for _ in range(20)))
        assert [r.status_code for r in ready] == [200] * 20
        # Twenty concurrent anonymous probes, one upstream check between them.
        assert state.hits.count("/v1/models") == 1
        for _ in range(20):
            assert (await gw.client.get("/readyz")).status_code == 200
        assert state.hits.count("/v1/models") == 1  # answered from what is known
        # An outage seen by real traffic shows at once, though "healthy" was checked a moment ago.
        state.mode = "server_error"
        try:
            assert (await gw.mint(key)).status_code == 502
            failing = await gw.client.get("/readyz")
        finally:
            state.mode = "ok"
        assert failing.status_code == 503
        assert "upstream_error" in failing.json()["checks"]["upstream"]
        assert "The server had an error" not in failing.text  # nothing the upstream said
    # Closing the gateway stops the probe.
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "upstream-health" and not t.done()]


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, 1),
        ("7", 7),
        ("2.5", 3),
        ("-5", 1),
        ("nan", 1),
        ("inf", 3600),
        ("99999999", 3600),
        ("Wed, 21 Oct 2099 07:28:00 GMT", 3600),
        ("Thu, 01 Jan 1970 00:00:00 GMT", 1),
        ("soon", 1),
    ],
)
def test_retry_after_parsing(header: str | None, seconds: int) -> None:
    assert answers.retry_after(header) == seconds
