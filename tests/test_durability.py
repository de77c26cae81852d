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
from pathlib import Path

import pytest

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
