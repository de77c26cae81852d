"""Durability: SIGKILL during the first migration and during a burst of mints, then start again.

After any kill, the next start works, and every secret the upstream minted has an audit row (a row still
``pending`` counts: it records an attempt whose outcome the kill took with it).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import CANARY_KEY
from tests.support.fake_openai import FakeOpenAIState
from tests.support.server import free_port

# Runs `voxgate migrate` in a process that freezes after its Nth SQL statement (then prints PAUSED and
# waits to be killed), or that reports how many statements the whole first migration took.
_FREEZE_AT_STATEMENT = """
import sys, time
from sqlalchemy import event
from sqlalchemy.engine import Engine
from voxgate.cli import main

stop_at = int(sys.argv[1])
count = 0

@event.listens_for(Engine, "after_cursor_execute")
def _count(*_args):
    global count
    count += 1
    if count == stop_at:
        print("PAUSED", flush=True)
        time.sleep(600)

try:
    main(["migrate"])
finally:
    print("STATEMENTS", count, flush=True)
"""


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOXGATE_") and k != "OPENAI_API_KEY"}
    env.update({"VOXGATE_DATA_DIR": str(data_dir), **extra})
    return env


def _tables(db_file: Path) -> set[str]:
    with sqlite3.connect(db_file) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name for (name,) in rows}


def _voxgate(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "voxgate", *args],
        env=_env(data_dir),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _statements_in_first_migration(tmp_path: Path) -> int:
    result = subprocess.run(
        [sys.executable, "-c", _FREEZE_AT_STATEMENT, "0"],
        env=_env(tmp_path / "count"),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return int(result.stdout.split("STATEMENTS", 1)[1].split()[0])


@pytest.mark.timeout(300)
def test_a_kill_during_the_first_migration_leaves_nothing_or_everything(tmp_path: Path) -> None:
    full = _statements_in_first_migration(tmp_path)
    complete = _tables(tmp_path / "count" / "voxgate.db")
    assert {"users", "api_keys", "mint_audit", "calls", "alembic_version"} <= complete
    # The first statement (BEGIN), the first CREATE TABLE, mid-way, and the last ones: the version row's
    # UPDATE is the migration's last statement (``full`` is the command's own query after the commit).
    points = sorted({1, 6, full // 2, full - 2, full - 1})
    for point in points:
        data_dir = tmp_path / f"kill-{point}"
        proc = subprocess.Popen(
            [sys.executable, "-c", _FREEZE_AT_STATEMENT, str(point)],
            env=_env(data_dir),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.strip() == "PAUSED", (line, proc.stderr.read() if proc.stderr else "")
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        tables = _tables(data_dir / "voxgate.db")
        # All or nothing: the schema is either untouched or whole.
        assert tables in (set(), complete), (point, tables)
        # And the next start works, whatever the kill left.
        migrated = _voxgate(data_dir, "migrate")
        assert migrated.returncode == 0, (point, migrated.stderr)
        assert _tables(data_dir / "voxgate.db") == complete
    listed = _voxgate(data_dir, "users", "list")
    assert listed.returncode == 0, listed.stderr


class _Server:
    """`voxgate serve` as a subprocess on a free port."""

    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "voxgate", "serve", "--port", str(self.port)],
            env=env,
            cwd=data_dir.parent,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                _, err = self.process.communicate()
                pytest.fail(f"voxgate serve did not start: {err}")
            time.sleep(0.1)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture
def burst_env(tmp_path: Path, upstream_url: str) -> tuple[Path, dict[str, str]]:
    data_dir = tmp_path / "data"
    env = _env(
        data_dir,
        OPENAI_API_KEY=CANARY_KEY,
        VOXGATE_UPSTREAM_URL=upstream_url,
        VOXGATE_CONSOLE_MODE="ephemeral",
        VOXGATE_LIMITS__MINT_PER_USER="100000/minute",
    )
    return data_dir, env


def test_a_kill_during_a_mint_burst_leaves_a_row_for_every_minted_secret(
    burst_env: tuple[Path, dict[str, str]], fake_openai: FakeOpenAIState
) -> None:
    data_dir, env = burst_env
    for command in (["migrate"], ["users", "add", "bob"]):
        subprocess.run([sys.executable, "-m", "voxgate", *command], env=env, check=True, capture_output=True)
    key = subprocess.run(
        [sys.executable, "-m", "voxgate", "keys", "create", "bob"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()[0]
    # Each upstream mint takes a moment, so that many are in flight (minted, not yet recorded) at the kill.
    fake_openai.mode = "slow"
    fake_openai.slow_seconds = 0.2
    server = _Server(data_dir, env)
    stop = False

    def mint_until_stopped() -> None:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            while not stop:
                try:
                    client.post("/api/realtime-token", headers={"Authorization": f"Bearer {key}"})
                except httpx.TransportError:
                    return

    with ThreadPoolExecutor(8) as pool:
        for _ in range(8):
            pool.submit(mint_until_stopped)
        deadline = time.monotonic() + 60
        while len(fake_openai.requests) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        server.kill()
        stop = True
    minted = len(fake_openai.requests)  # every request the upstream got minted a secret
    assert minted >= 40

    # The next start works, and the audit has a row for every secret the upstream minted.
    restarted = _Server(data_dir, env)
    try:
        with sqlite3.connect(data_dir / "voxgate.db") as conn:
            rows = dict(conn.execute("SELECT outcome, count(*) FROM mint_audit GROUP BY outcome").fetchall())
        attempts = rows.get("ok", 0) + rows.get("pending", 0)
        assert attempts >= minted, (rows, minted)
        assert set(rows) <= {"ok", "pending"}, rows
        response = httpx.post(
            f"{restarted.url}/api/realtime-token", headers={"Authorization": f"Bearer {key}"}, timeout=10
        )
        assert response.status_code == 200, response.text
    finally:
        restarted.stop()
