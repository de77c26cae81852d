"""Where requests come from: X-Forwarded-For only from trusted proxies (uvicorn's semantics), and no
address handed to clients built from the Host header."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pydantic import ValidationError

from voxgate.settings import Settings
from voxgate.web.auth import forwarded_client


@pytest.mark.parametrize(
    ("peer", "forwarded", "allow", "expected"),
    [
        # Nothing trusted: the header is ignored, whatever it says.
        ("10.0.0.1", ["6.6.6.6"], [], "10.0.0.1"),
        # A peer outside the trusted set cannot speak for anyone.
        ("203.0.113.9", ["6.6.6.6"], ["10.0.0.0/8"], "203.0.113.9"),
        # The trusted proxy appended the address it saw: the rightmost entry, not what the client wrote.
        ("10.0.0.1", ["6.6.6.6, 198.51.100.7"], ["10.0.0.1"], "198.51.100.7"),
        # Several proxies: skip every trusted hop from the right.
        ("10.0.0.1", ["6.6.6.6, 198.51.100.7, 10.0.0.2"], ["10.0.0.0/8"], "198.51.100.7"),
        # Several headers are one list.
        ("10.0.0.1", ["6.6.6.6", "198.51.100.7, 10.0.0.2"], ["10.0.0.0/8"], "198.51.100.7"),
        # All hops trusted: the leftmost (as uvicorn does).
        ("10.0.0.1", ["10.0.0.3, 10.0.0.2"], ["10.0.0.0/8"], "10.0.0.3"),
        # "*": every hop is trusted, so the leftmost (uvicorn's semantics; for proxies that overwrite it).
        ("10.0.0.1", ["198.51.100.7"], ["*"], "198.51.100.7"),
        # IPv6, with and without brackets and ports; v4 with a port.
        ("::1", ["2001:db8::1"], ["::1"], "2001:db8::1"),
        ("::1", ["[2001:db8::2]:4711"], ["::1/128"], "2001:db8::2"),
        ("127.0.0.1", ["198.51.100.8:5555"], ["127.0.0.1"], "198.51.100.8"),
        # What is not an address (NUL bytes, names, "unknown") never becomes the client: the peer does.
        ("127.0.0.1", ["6.6.6.6\x00evil"], ["127.0.0.1"], "127.0.0.1"),
        ("127.0.0.1", ["unknown"], ["127.0.0.1"], "127.0.0.1"),
        ("127.0.0.1", [" , "], ["127.0.0.1"], "127.0.0.1"),
    ],
)
def test_the_client_is_the_address_the_trusted_proxies_saw(
    peer: str, forwarded: list[str], allow: list[str], expected: str
) -> None:
    assert forwarded_client(peer, forwarded, allow) == expected


def test_the_deprecated_switch_trusts_only_the_connecting_peer() -> None:
    assert forwarded_client("10.0.0.1", ["6.6.6.6, 198.51.100.7"], [], trust_peer=True) == "198.51.100.7"
    # With the new setting given, it wins.
    assert forwarded_client("203.0.113.1", ["6.6.6.6"], ["10.0.0.0/8"], trust_peer=True) == "203.0.113.1"


def test_settings_take_a_list_of_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOXGATE_FORWARDED_ALLOW_IPS", "10.0.0.0/8, 127.0.0.1,::1")
    assert Settings(_env_file=None).forwarded_allow_ips == ["10.0.0.0/8", "127.0.0.1", "::1"]
    monkeypatch.setenv("VOXGATE_FORWARDED_ALLOW_IPS", "*")
    assert Settings(_env_file=None).forwarded_allow_ips == ["*"]
    monkeypatch.setenv("VOXGATE_FORWARDED_ALLOW_IPS", "10.0.0.0/8,proxy.example")
    with pytest.raises(ValidationError, match=r"proxy\.example"):
        Settings(_env_file=None)


def test_the_old_switch_warns(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("VOXGATE_TRUST_PROXY_HEADERS", "true")
    with caplog.at_level(logging.WARNING, logger="voxgate"):
        assert Settings(_env_file=None).trust_proxy_headers
    assert "VOXGATE_FORWARDED_ALLOW_IPS" in caplog.text


async def _mint(gw: Any, key: str, **headers: str) -> Any:
    return await gw.client.post("/api/realtime-token", headers={"Authorization": f"Bearer {key}", **headers})


async def _audited_ips(gw: Any) -> list[str]:
    return [m.client_ip for m in reversed(await gw.services.accounts.list_mints())]


async def test_audit_rows_and_lockouts_use_the_address_the_proxy_saw(gateway_factory: Any) -> None:
    # The in-process client connects from 127.0.0.1: it plays the proxy.
    async with gateway_factory(
        forwarded_allow_ips=["127.0.0.1"], limits={"auth_failures_per_ip": "3/minute"}
    ) as gw:
        _, key = await gw.user_with_key()
        minted = await _mint(gw, key, **{"X-Forwarded-For": "6.6.6.6, 198.51.100.7"})
        assert minted.status_code == 200, minted.text
        # A client rotating the address it writes on the left cannot escape its lockout.
        statuses = [
            (
                await _mint(gw, f"vg_{n}" + "X" * 43, **{"X-Forwarded-For": f"6.6.6.{n}, 198.51.100.9"})
            ).status_code
            for n in range(4)
        ]
        assert statuses == [401, 401, 401, 429]
        # Another client behind the same proxy is not locked out.
        other = await _mint(gw, "vg_" + "Y" * 43, **{"X-Forwarded-For": "198.51.100.10"})
        assert other.status_code == 401
        garbage = await _mint(gw, key, **{"X-Forwarded-For": "not-an-address"})
        assert garbage.status_code == 200
        # Audit rows name what the proxy saw (anonymous failures may be sampled: not every one is a row).
        audited = await _audited_ips(gw)
        assert audited[0] == "198.51.100.7" and audited[-1] == "127.0.0.1"
        assert set(audited) <= {"198.51.100.7", "198.51.100.9", "198.51.100.10", "127.0.0.1"}


async def test_without_trusted_proxies_the_header_is_ignored(gateway_factory: Any) -> None:
    async with gateway_factory() as gw:
        _, key = await gw.user_with_key()
        assert (await _mint(gw, key, **{"X-Forwarded-For": "6.6.6.6"})).status_code == 200
        assert await _audited_ips(gw) == ["127.0.0.1"]


# -- the Host header ------------------------------------------------------------------------------


async def test_calls_url_never_comes_from_the_host_header(gateway_factory: Any) -> None:
    async with gateway_factory(console_mode="relay") as gw:
        _, key = await gw.user_with_key()
        minted = await _mint(gw, key, Host="evil.example")
        assert minted.status_code == 200, minted.text
        # Same-origin: the browser resolves it against the page it is on.
        assert minted.json()["calls_url"] == "/api/realtime/calls"
    async with gateway_factory(console_mode="relay", public_url="https://voice.example/gw/") as gw:
        _, key = await gw.user_with_key()
        minted = await _mint(gw, key, Host="evil.example")
        assert minted.json()["calls_url"] == "https://voice.example/gw/api/realtime/calls"


async def test_an_upstream_calls_url_is_handed_out_as_configured(gateway_factory: Any) -> None:
    async with gateway_factory(public_url="https://voice.example") as gw:
        _, key = await gw.user_with_key()
        minted = await _mint(gw, key, Host="evil.example")
        assert minted.status_code == 200, minted.text
        assert minted.json()["calls_url"] == gw.services.upstream.calls_url
        assert "evil.example" not in minted.text
