"""The voxgate command as people run it: user and key management, and `voxgate serve` as a real process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from tests.conftest import CANARY_KEY
from tests.support.server import free_port
from voxgate.cli import main


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLI reads its Settings from the environment: point it at a scratch data folder."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("VOXGATE_") or name == "OPENAI_API_KEY":
            monkeypatch.delenv(name)
    monkeypatch.setenv("VOXGATE_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_users_and_keys_lifecycle(cli_env: Path) -> None:
    assert "database is up to date" in run("migrate")
    assert "added user ana" in run("users", "add", "ana", "--admin")
    run("users", "add", "bob")
    listing = run("users", "list")
    assert re.search(r"1\tana\tadmin\tactive", listing)
    assert re.search(r"2\tbob\tuser\tactive", listing)

    key = run("keys", "create", "bob", "--name", "laptop").splitlines()[0]
    assert key.startswith("vg_")
    keys = run("keys", "list")
    assert "bob\tlaptop\t" + key[:9] in keys
    assert key not in keys
    assert "active" in keys
    assert "revoked key 1" in run("keys", "revoke", "1")
    assert "revoked" in run("keys", "list", "--user", "bob")

    assert "disabled user bob" in run("users", "disable", "bob")
    assert "disabled" in run("users", "list")
    link = run("users", "link", "ana").splitlines()[0].strip()
    assert re.fullmatch(r"http://127\.0\.0\.1:8000/signin#link=vgl_[\w-]+", link)


def test_cli_errors_are_clear(cli_env: Path) -> None:
    run("migrate")
    result = CliRunner().invoke(main, ["keys", "create", "ghost"])
    assert result.exit_code == 1
    assert "No user named 'ghost'" in result.output
    run("users", "add", "ana")
    duplicate = CliRunner().invoke(main, ["users", "add", "ana"])
    assert duplicate.exit_code == 1
    assert "already exists" in duplicate.output


def test_only_serve_and_migrate_create_a_database(cli_env: Path) -> None:
    # Run from a folder that is not the server's: a clear refusal, and no new empty database.
    for command in (["users", "list"], ["users", "add", "ana"], ["keys", "list"], ["history", "list"]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 1, command
        assert "no voxgate database at" in result.output
        assert "VOXGATE_DATA_DIR" in result.output
    assert not (cli_env / "data" / "voxgate.db").exists()
    run("migrate")
    assert run("users", "list") == ""


def test_first_link_to_a_file_and_a_hint_until_an_admin_signs_in(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    import uvicorn

    from voxgate.adapters.sql import AccountStore, Database

    served: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.append(options))
    link_file = cli_env / "first-link.txt"
    first = run("serve", "--port", "8123", "--print-link-to", str(link_file))
    link = link_file.read_text().strip()
    assert re.fullmatch(r"http://127\.0\.0\.1:8123/signin#link=vgl_[\w-]+", link)
    assert link not in first and str(link_file) in first
    assert link_file.stat().st_mode & 0o777 == 0o600
    # uvicorn is told to bound what a client may hold.
    assert served[0]["timeout_keep_alive"] and served[0]["http"] == "voxgate.web.server:HeaderTimeoutProtocol"

    later = run("serve")
    assert "voxgate users link admin" in later

    async def sign_in() -> None:
        db = Database(f"sqlite+aiosqlite:///{cli_env / 'data' / 'voxgate.db'}")
        try:
            assert await AccountStore(db).consume_signin_link(link.rsplit("=", 1)[1]) is not None
        finally:
            await db.aclose()

    asyncio.run(sign_in())
    assert "users link" not in run("serve")


def test_links_use_the_public_url(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run("migrate")
    run("users", "add", "ana")
    monkeypatch.setenv("VOXGATE_PUBLIC_URL", "https://voice.example.org/")
    assert run("users", "link", "ana").startswith("https://voice.example.org/signin#link=vgl_")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str], list[str]]]:
    """`voxgate serve` in a subprocess, no OpenAI key, empty data folder. Stopped at the end."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOXGATE_") and k != "OPENAI_API_KEY"}
    env["VOXGATE_DATA_DIR"] = str(tmp_path / "data")
    process = subprocess.Popen(
        [sys.executable, "-m", "voxgate", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = process.stdout.readline() if process.stdout else ""
            lines.append(line)
            if "Uvicorn running" in line or "Application startup complete" in line:
                break
            if process.poll() is not None:
                pytest.fail("voxgate serve exited:\n" + "".join(lines))
        yield url, process, lines
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def test_serve_first_start_prints_a_one_time_link(
    served: tuple[str, subprocess.Popen[str], list[str]],
) -> None:
    url, _, lines = served
    output = "".join(lines)
    match = re.search(r"(http://127\.0\.0\.1:\d+/signin#link=(vgl_[\w-]+))", output)
    assert match, output
    assert "upstream: the embedded local engine" in output
    with httpx.Client(base_url=url, timeout=5) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/").status_code == 200
        origin = {"Origin": url}
        first = client.post("/api/auth/signin", json={"link": match.group(2)}, headers=origin)
        assert first.status_code == 200
        assert first.json()["user"]["name"] == "admin"
        # With no key and no internet, the gateway relays to its embedded engine, over HTTP: the token
        # is a relay ticket for voxgate's own calls URL.
        token = client.post("/api/realtime-token", headers=origin)
        assert token.status_code == 200, token.text
        assert token.json()["value"].startswith("ek_vgt_")
        # A path on this site: no public URL is configured, and the Host header is never trusted for one.
        assert token.json()["calls_url"] == "/api/realtime/calls"
        assert client.get("/readyz").json()["checks"]["upstream"] == "ok"
        client.cookies.clear()
        assert (
            client.post("/api/auth/signin", json={"link": match.group(2)}, headers=origin).status_code == 401
        )


def test_serve_with_two_workers(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOXGATE_") and k != "OPENAI_API_KEY"}
    env.update(
        VOXGATE_DATA_DIR=str(tmp_path / "data"),
        OPENAI_API_KEY=CANARY_KEY,
        VOXGATE_UPSTREAM_URL="http://127.0.0.1:9/v1",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "voxgate", "serve", "--port", str(port), "--workers", "2"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        ok = False
        while time.monotonic() < deadline and not ok:
            try:
                ok = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                time.sleep(0.2)
        assert ok, "two-worker server did not answer /healthz"
    finally:
        process.terminate()
        output = process.communicate(timeout=15)[0]
    assert CANARY_KEY not in output
