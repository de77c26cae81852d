"""The OpenAI key never leaves the server: not in a response, a header, a log line, a database row, a
static file or a page, even when the upstream quotes it back everywhere it can.

The fake upstream runs with the canary key and, in echo mode, puts it (whole, without its ``sk-proj-``
prefix, cut in two, masked as ``sk-pr****CDEF`` and ``sk-proj-...CDEF``) in error ``message``, ``param``
and ``code``, in response headers and cookies, in 200 bodies, in the SDP answer, in ``Location`` and in
sideband events. Every path is exercised: minting (ephemeral mode), the relay with its sideband and the
ledger it fills, hangup, ``/readyz`` and the pages.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import CANARY_KEY, Gateway
from tests.support.fake_openai import MODES, SDP_ANSWER, FakeOpenAIState, echo_forms
from voxgate.adapters.sql.tables import metadata
from voxgate.adapters.upstream.scrub import Scrubber
from voxgate.errors import VoxgateError
from voxgate.web.errors import error_response
from voxgate.web.pages import STATIC_DIR

PREFIX = "sk-proj-"
PART = 8
# Every 8-character run of the key that reaches past its public prefix, and masked forms of its tail.
PARTS = [CANARY_KEY[i : i + PART] for i in range(1, len(CANARY_KEY) - PART + 1)]
MASKED_TAIL = re.compile(r"(\*|\.\.\.|…)" + re.escape(CANARY_KEY[-4:]))
OFFER = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"


def _all_text(response: httpx.Response) -> str:
    return response.text + "\n" + "\n".join(f"{k}: {v}" for k, v in response.headers.multi_items())


def assert_no_canary(label: str, text: str) -> None:
    """No part of the canary (8+ characters of it, or a masked form of its tail) in ``text``."""
    for part in PARTS:
        assert part not in text, f"{label}: carries {part!r} of the key: {text[:300]!r}"
    assert not MASKED_TAIL.search(text), f"{label}: carries a masked form of the key: {text[:300]!r}"


def test_the_fake_upstream_really_echoes_every_form() -> None:
    forms = echo_forms(CANARY_KEY)
    assert CANARY_KEY in forms
    assert CANARY_KEY.removeprefix(PREFIX) in forms
    assert f"sk-pr****{CANARY_KEY[-4:]}" in forms
    with pytest.raises(AssertionError):
        assert_no_canary("self-test", CANARY_KEY.removeprefix(PREFIX)[10:30])


async def _dump_database(gw: Gateway) -> list[tuple[str, str]]:
    dumped = []
    async with gw.services.db.engine.connect() as conn:
        for table in metadata.sorted_tables:
            rows = (await conn.execute(select(table))).all()
            dumped.append((f"table {table.name}", repr(rows)))
    return dumped


async def _wait_for_ledger(gw: Gateway, call_id: str) -> None:
    """Until the sideband's events are in the ledger (the supervisor records them as they come)."""
    async with asyncio.timeout(10):
        while True:
            detail = await gw.services.ledger.call_detail(call_id)
            if detail is not None and detail.responses and detail.transcriptions:
                return
            await asyncio.sleep(0.05)


async def _relay_a_call(gw: Gateway, key: str, seen: list[tuple[str, str]]) -> None:
    auth = {"Authorization": f"Bearer {key}"}
    relayed = await gw.client.post(
        "/api/realtime/calls", content=OFFER, headers={**auth, "Content-Type": "application/sdp"}
    )
    seen.append(("relay answer", _all_text(relayed)))
    assert relayed.status_code == 201, relayed.text
    # The answer is the upstream's (scrubbed of the echo it carried), under voxgate's own Location.
    assert relayed.text.startswith(SDP_ANSWER)
    call_id = relayed.headers["location"].rsplit("/", 1)[-1]
    assert call_id.startswith("vgc_")
    await _wait_for_ledger(gw, call_id)
    for path in (f"/api/calls/{call_id}", f"/api/calls/{call_id}/export?format=md", "/api/calls"):
        response = await gw.client.get(path, headers=auth)
        assert response.status_code == 200, response.text
        seen.append((path, _all_text(response)))
    # The transcript was recorded, with the echoed key scrubbed out of it.
    assert "What is the key? [redacted]" in (await gw.client.get(f"/api/calls/{call_id}", headers=auth)).text
    hangup = await gw.client.post(f"/api/calls/{call_id}/hangup", headers=auth)
    seen.append(("hangup", _all_text(hangup)))
    assert hangup.status_code == 204


async def test_canary_key_never_leaks(
    gateway_factory: Any, fake_openai: FakeOpenAIState, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake_openai.echo_key = True
    seen: list[tuple[str, str]] = []
    async with gateway_factory(upstream_timeout=0.5) as gw:
        _, key = await gw.user_with_key()
        upstream = gw.services.upstream
        fake_openai.slow_seconds = 1.0
        for mode in MODES:
            fake_openai.mode = mode
            seen.append((f"mint {mode}", _all_text(await gw.mint(key))))
            # What the readiness probe sees in this mode, then what /readyz says about it.
            with contextlib.suppress(VoxgateError):
                await upstream.check()
            seen.append((f"readyz {mode}", _all_text(await gw.client.get("/readyz"))))
        fake_openai.mode = "ok"
        minted = await gw.mint(key)
        assert minted.status_code == 200, minted.text
        assert "[redacted]" in minted.json()["session"]["instructions"]  # the echo was there, and scrubbed
        await _relay_a_call(gw, key, seen)
        fake_openai.mode = "unauthorized"
        refused = await gw.client.post(
            "/api/realtime/calls",
            content=OFFER,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/sdp"},
        )
        assert refused.status_code == 502
        seen.append(("relay refused", _all_text(refused)))
        fake_openai.mode = "ok"
        pages = ("/", "/healthz", "/openapi.json", "/docs", "/api/me", "/static/signin.js", "/nope")
        for path in (*pages, "/metrics"):
            seen.append((path, _all_text(await gw.client.get(path))))
        seen.append(
            ("mint with canary", _all_text(await gw.mint(key, {"session": {"instructions": CANARY_KEY}})))
        )
        seen.extend(await _dump_database(gw))
        seen.append(("settings repr", repr(gw.services.settings)))
        seen.append(("settings json", gw.services.settings.model_dump_json()))
    # The fake upstream really was sent the key and really echoed it (so a leak path would show).
    assert any(CANARY_KEY in r["headers"].get("authorization", "") for r in fake_openai.requests)
    assert fake_openai.hangups, "the relayed call was hung up upstream"
    seen.extend((f"log {r.name}", r.getMessage()) for r in caplog.records)
    seen.extend(("log text", line) for line in caplog.text.splitlines())
    for label, text in seen:
        assert_no_canary(label, text)
    for static in STATIC_DIR.rglob("*"):
        if static.is_file():
            assert_no_canary(str(static), static.read_text(errors="ignore"))


async def test_a_key_echoed_in_a_log_line_is_redacted_in_every_form(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("voxgate.test").warning("upstream said: %s", echo_forms(CANARY_KEY))
    try:
        raise RuntimeError(f"boom {CANARY_KEY.removeprefix(PREFIX)}")
    except RuntimeError:
        logging.getLogger("voxgate.test").exception("failed")
    assert caplog.records
    assert "[redacted]" in caplog.text
    for line in caplog.text.splitlines():
        assert_no_canary("log", line)


async def test_client_supplied_canary_in_session_is_refused_not_echoed(gateway: Gateway) -> None:
    _, key = await gateway.user_with_key()
    response = await gateway.mint(key, {"session": {"instructions": CANARY_KEY}})
    assert response.status_code == 400
    assert_no_canary("mint", _all_text(response))


# ---- the scrubber itself -----------------------------------------------------------------------------


def test_the_scrubber_takes_out_every_form_and_nothing_else() -> None:
    scrub = Scrubber([CANARY_KEY])
    assert scrub.text(echo_forms(CANARY_KEY)) == " | ".join(
        ["[redacted]", "[redacted]", "[redacted] [redacted]", "[redacted]", "[redacted]"]
    )
    assert scrub.text(f"key={CANARY_KEY[20:29]};") == "key=[redacted];"
    # Innocent text stays: the public prefix alone, markdown, short runs, other keys' masks.
    for innocent in ("sk-proj-", "**bold** and ...later", CANARY_KEY[20:27], "id****WXYZ", "ek_abc123def"):
        assert scrub.text(innocent) == innocent
    # Anything key-shaped, on request (upstream error text quotes other keys too).
    assert scrub.text("bad key sk-other0123456789", keylike=True) == "bad key [redacted]"


def test_the_scrubber_sees_through_json_escapes() -> None:
    scrub = Scrubber([CANARY_KEY])
    escaped = json.dumps({"text": CANARY_KEY, "other": "é"}, ensure_ascii=True).replace("s", "\\u0073", 1)
    assert CANARY_KEY not in escaped
    clean = json.loads(scrub.json_bytes(escaped.encode()))
    assert clean == {"text": "[redacted]", "other": "é"}
    untouched = b'{"type":"response.done"}'
    assert scrub.json_bytes(untouched) is untouched


async def test_error_bodies_are_scrubbed_whatever_raised_them(gateway: Gateway) -> None:
    response = error_response(502, "upstream_error", "x", f"said {CANARY_KEY}", param=CANARY_KEY[9:30])
    assert_no_canary("error body", bytes(response.body).decode())


async def test_canary_never_in_structured_log_lines(
    gateway_factory: Any, fake_openai: FakeOpenAIState
) -> None:
    """Every line the JSON and logfmt formats write while the upstream echoes the key everywhere, with
    the request log on and DEBUG everywhere: none carries any part of the key."""
    import io

    from voxgate.web.log_format import configure_logging

    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    fake_openai.echo_key = True
    try:
        for fmt in ("json", "logfmt"):
            configure_logging("debug", fmt, stream)  # type: ignore[arg-type]
            async with gateway_factory(upstream_timeout=0.5) as gw:
                _, key = await gw.user_with_key()
                for mode in MODES:
                    fake_openai.mode = mode
                    # A request id that is part of the key: kept (it looks like an id), and scrubbed.
                    headers = {"Authorization": f"Bearer {key}", "X-Request-ID": CANARY_KEY[8:40]}
                    await gw.client.post("/api/realtime-token", headers=headers)
                fake_openai.mode = "ok"
                await gw.mint(key, {"session": {"instructions": CANARY_KEY}})
                await gw.client.post(
                    "/api/realtime/calls",
                    content=OFFER,
                    headers={"Authorization": f"Bearer {CANARY_KEY}", "Content-Type": "application/sdp"},
                )
                await gw.client.get(f"/nope?key={CANARY_KEY}")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    lines = stream.getvalue().splitlines()
    assert any('"logger": "voxgate.access"' in line for line in lines)
    assert any("logger=voxgate.access" in line for line in lines)
    for line in lines:
        assert_no_canary("structured log line", line)
