"""`voxgate history list|show|export|prune` over the database the server writes its ledger to."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from voxgate.adapters.sql import AccountStore, Database, LedgerStore
from voxgate.cli import main
from voxgate.core.ledger import CallItem, CallRecord, CallResponse, NewCall
from voxgate.settings import Settings

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLI reads its Settings from the environment: point it at a scratch data folder."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("VOXGATE_") or name == "OPENAI_API_KEY":
            monkeypatch.delenv(name)
    monkeypatch.setenv("VOXGATE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-used")  # not the local engine: costs are real
    return tmp_path


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def fails(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 1, result.output
    return result.output


async def _seed() -> list[CallRecord]:
    """Two users; ana's call of 20 days ago, ana's call of 5 days ago, bob's live call."""
    db = Database(Settings(_env_file=None).effective_database_url)
    try:
        await db.migrate()
        accounts, ledger = AccountStore(db), LedgerStore(db)
        ana = await accounts.create_user("ana")
        bob = await accounts.create_user("bob")
        calls = []
        for n, (user, days_ago) in enumerate([(ana, 20), (ana, 5), (bob, 1)]):
            started = NOW - timedelta(days=days_ago)
            call = await ledger.open_call(
                NewCall(
                    f"rtc_seed{n}", user.id, "relay", "gpt-realtime-2.1", "marin", None, started_at=started
                )
            )
            await ledger.record_item(
                call.id, CallItem(f"item_{n}a", "user", "message", f"Hello number {n}", "completed")
            )
            await ledger.record_item(
                call.id,
                CallItem(f"item_{n}b", "assistant", "message", f"Reply {n}", "completed", f"item_{n}a"),
            )
            usage = {"input_tokens": 100, "output_tokens": 50}
            await ledger.record_response(
                call.id, CallResponse(f"resp_{n}", "completed", usage, Decimal("0.0125"))
            )
            if user is ana:
                await ledger.end_call(call.id, "upstream_closed", at=started + timedelta(seconds=75))
            calls.append(call)
        return calls
    finally:
        await db.aclose()


@pytest.fixture
def seeded(cli_env: Path) -> list[CallRecord]:
    return asyncio.run(_seed())


def test_list_is_newest_first_and_filters_by_user(seeded: list[CallRecord]) -> None:
    old, recent, live = seeded
    lines = run("history", "list").splitlines()
    assert [line.split("\t")[0] for line in lines] == [live.id, recent.id, old.id]
    fields = lines[1].split("\t")
    assert fields[2:] == ["75s", "ana", "gpt-realtime-2.1", "$0.0125", "Hello number 1"]
    assert lines[0].split("\t")[2] == "live"
    assert [line.split("\t")[0] for line in run("history", "list", "--user", "ana").splitlines()] == [
        recent.id,
        old.id,
    ]
    assert len(run("history", "list", "--limit", "1").splitlines()) == 1
    assert "No user named 'ghost'" in fails("history", "list", "--user", "ghost")


def test_show_prints_the_transcript_by_either_id(seeded: list[CallRecord]) -> None:
    _, recent, _ = seeded
    text = run("history", "show", recent.id)
    assert text.startswith(f"# voxgate call {recent.id}\n")
    assert "- Duration: 1 min 15 s" in text
    assert "- Cost: $0.0125" in text
    assert text.index("**User:** Hello number 1") < text.index("**Assistant:** Reply 1")
    assert run("history", "show", recent.upstream_call_id) == text
    assert "No call 'vgc_000000000000000000000000'" in fails("history", "show", "vgc_" + "0" * 24)


def test_export_writes_json_or_markdown(seeded: list[CallRecord], cli_env: Path) -> None:
    old, _, _ = seeded
    target = cli_env / "call.json"
    run("history", "export", old.id, "--output", str(target))
    body = json.loads(target.read_text(encoding="utf-8"))
    assert (body["id"], body["user"], body["cost_usd"], body["simulated"]) == (old.id, "ana", "0.0125", False)
    assert [i["text"] for i in body["items"]] == ["Hello number 0", "Reply 0"]
    markdown = run("history", "export", old.id, "--format", "md")
    assert "**Assistant:** Reply 0" in markdown
    refused = CliRunner().invoke(main, ["history", "export", old.id, "--format", "pdf"])
    assert refused.exit_code == 2
    assert "'pdf' is not one of 'json', 'md'" in refused.output


def test_prune_blanks_old_transcripts_and_keeps_costs(
    seeded: list[CallRecord], monkeypatch: pytest.MonkeyPatch
) -> None:
    old, recent, _ = seeded
    monkeypatch.setenv("VOXGATE_HISTORY__RETENTION_DAYS", "10")
    assert "pruned the transcripts of 1 call(s)" in run("history", "prune")
    assert "pruned the transcripts of 0 call(s)" in run("history", "prune")
    pruned = run("history", "show", old.id)
    assert "Hello number 0" not in pruned
    assert "_(no transcript)_" in pruned
    assert "- Cost: $0.0125" in pruned
    assert "Hello number 1" in run("history", "show", recent.id)
    assert "pruned the transcripts of 1 call(s)" in run("history", "prune", "--days", "2")
    assert "Hello number 1" not in run("history", "show", recent.id)
