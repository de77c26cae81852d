"""The admin console's actions on the command line: budgets, roles, the audit log, and live calls ended
or instructed through the database (carried out by the replica that watches the call)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from click.testing import CliRunner, Result

from tests.test_cli import cli_env
from voxgate.adapters.sql import AccountStore, Database, LedgerStore
from voxgate.adapters.sql.notices import NoticeStore
from voxgate.cli import main
from voxgate.core.accounts import MintRecord
from voxgate.core.ledger import NewCall

__all__ = ["cli_env"]

T = TypeVar("T")


def in_worker(work: Callable[[], T]) -> T:
    """Run ``work`` in a thread of its own: the package's browser tests leave Playwright's event loop
    running in this one, and the CLI starts its own with asyncio.run."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(work).result()


def invoke(*args: str) -> Result:
    return in_worker(lambda: CliRunner().invoke(main, list(args), catch_exceptions=False))


def run(*args: str) -> str:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return result.output


def on_db(folder: Path, work):  # type: ignore[no-untyped-def]
    async def go():  # type: ignore[no-untyped-def]
        db = Database(f"sqlite+aiosqlite:///{folder / 'data' / 'voxgate.db'}")
        try:
            return await work(db)
        finally:
            await db.aclose()

    return in_worker(lambda: asyncio.run(go()))


def test_budgets_set_show_and_reset(cli_env: Path) -> None:
    run("migrate")
    run("users", "add", "ana")
    out = run("budgets", "set", "ana", "--usd-per-day", "2.5", "--minutes-per-day", "none")
    assert "usd_per_day=2.5" in out and "minutes_per_day=None" in out and "usd_per_month=default" in out
    shown = run("budgets", "show", "ana")
    assert "usd_per_day=2.5" in shown
    assert re.search(r"user_usd_per_day: 0 of 2.5 used, 2.5 left, resets \d{4}-\d\d-\d\d 00:00 UTC", shown)
    assert "ana\tusd_per_day=2.5" in run("budgets", "show")
    bad = invoke("budgets", "set", "ana", "--usd-per-day", "lots")
    assert bad.exit_code != 0 and "not an amount" in bad.output
    run("budgets", "reset", "ana")
    assert "usd_per_day=none" in run("budgets", "show", "ana")


def test_roles_and_the_audit_log(cli_env: Path) -> None:
    run("migrate")
    run("users", "add", "ana")
    assert "ana is now an admin" in run("users", "role", "ana", "admin")
    assert re.search(r"\tana\tadmin\t", run("users", "list"))

    async def attempts(db: Database) -> None:
        accounts = AccountStore(db)
        ana = await accounts.get_user("ana")
        await accounts.record_mint(MintRecord(ana.id, "10.0.0.1", "ok", 200, 60, "gpt-realtime-2.1"))
        await accounts.record_mint(
            MintRecord(ana.id, "10.0.0.1", "budget_exhausted", 429, None, "gpt-realtime-2.1")
        )

    on_db(cli_env, attempts)
    everything = run("audit").splitlines()
    assert len(everything) == 2 and "budget_exhausted\t429" in everything[0]
    failed = run("audit", "--failed", "--user", "ana").splitlines()
    assert len(failed) == 1 and "\tana\t10.0.0.1\t" in failed[0]
    first_id = everything[0].split("\t")[0]
    older = run("audit", "--before", first_id).splitlines()
    assert len(older) == 1 and older[0].endswith("ok\t200")


def test_live_calls_are_listed_ended_and_instructed_through_the_database(cli_env: Path) -> None:
    run("migrate")
    run("users", "add", "ana")

    async def open_call(db: Database) -> str:
        ana = await AccountStore(db).get_user("ana")
        call = await LedgerStore(db).open_call(
            NewCall("rtc_cli", ana.id, "relay", "gpt-realtime-2.1", None, None)
        )
        return call.id

    call_id = on_db(cli_env, open_call)
    assert re.match(rf"{call_id}\tana\tgpt-realtime-2.1\t", run("calls", "live"))
    run("calls", "instruct", call_id, "Speak slowly.")
    run("calls", "end", call_id)

    async def pending(db: Database) -> list[tuple[str, dict[str, str]]]:
        return [(n.kind, n.data) for n in await NoticeStore(db).pending([call_id])]

    assert on_db(cli_env, pending) == [
        ("instruct", {"instructions": "Speak slowly.", "mode": "append"}),
        ("end", {}),
    ]
    missing = invoke("calls", "end", "vgc_000000000000000000000000")
    assert missing.exit_code != 0 and "No live call" in missing.output
