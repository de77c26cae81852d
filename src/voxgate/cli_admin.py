"""The admin console's actions on the command line: budgets, roles, live calls and the audit log.

``voxgate budgets show|set|reset``, ``voxgate users role``, ``voxgate calls live|end|instruct`` and
``voxgate audit``. Live calls are ended and instructed through the database (a pending notice that the
replica watching the call carries out within half a second), since the CLI cannot reach the upstream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import TypeVar

import click

from voxgate.adapters.authcache import open_epoch
from voxgate.adapters.sql import AccountStore, Database, LedgerStore
from voxgate.adapters.sql.admin import AdminStore
from voxgate.adapters.sql.budgets import BUDGET_FIELDS, BudgetStore
from voxgate.adapters.sql.database import sqlite_path
from voxgate.adapters.sql.notices import NoticeStore
from voxgate.core.budgets import BudgetLimits, standings
from voxgate.errors import NotFound, VoxgateError
from voxgate.settings import Settings

__all__ = ["register"]

T = TypeVar("T")


def _run(work: Callable[[Database], Awaitable[T]]) -> T:
    """Run ``work`` on the configured database (which must exist: ``voxgate serve`` creates it)."""
    settings = Settings()

    async def runner() -> T:
        db = Database(settings.effective_database_url, create=False)
        try:
            if await db.is_empty():
                raise click.ClickException(
                    f"no voxgate database at {settings.effective_database_url}: "
                    "run this where `voxgate serve` runs"
                )
            await db.migrate()
            return await work(db)
        finally:
            await db.aclose()

    try:
        return asyncio.run(runner())
    except VoxgateError as exc:
        raise click.ClickException(exc.message) from None


def _amount(value: str | None) -> Decimal | None:
    """'none' lifts a limit; otherwise a non-negative decimal."""
    if value is None or value.lower() in ("none", "unlimited"):
        return None
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise click.BadParameter(f"not an amount: {value!r} (a number, or 'none' for no limit)") from None
    if not amount.is_finite() or amount < 0:
        raise click.BadParameter(f"not an amount: {value!r}")
    return amount


async def _forget_cached(db: Database) -> None:
    """Move the revocation epoch: every running server forgets the credentials and budget overrides it
    answers from memory (:mod:`voxgate.adapters.authcache`)."""
    settings = Settings()
    epoch = open_epoch(settings.redis_url, settings.redis_prefix, sqlite_path(db.url))
    if epoch is not None:
        try:
            await epoch.bump()
        finally:
            await epoch.aclose()


# ---- budgets -----------------------------------------------------------------------------------------


@click.group()
def budgets() -> None:
    """Show and set budgets per user (defaults come from VOXGATE_BUDGETS__*)."""


@budgets.command("show")
@click.argument("user", required=False)
def budgets_show(user: str | None) -> None:
    """A user's limits and what the ledger says is spent (all users' overrides without USER)."""
    settings = Settings()
    defaults = BudgetLimits(
        settings.budgets.user_usd_per_day,
        settings.budgets.user_usd_per_month,
        settings.budgets.user_minutes_per_day,
    )

    async def work(db: Database) -> list[str]:
        store, accounts = BudgetStore(db), AccountStore(db)
        if user is None:
            everyone = settings.budgets.global_usd_per_day
            lines = [f"defaults\t{_limits_text(defaults)}\tglobal usd_per_day={everyone}"]
            names = {u.id: u.name for u in await accounts.list_users()}
            for user_id, override in (await store.all_overrides()).items():
                lines.append(f"{names.get(user_id, user_id)}\t{_limits_text(defaults.overridden(override))}")
            return lines
        found = await accounts.get_user(user)
        limits = defaults.overridden(await store.overrides(found.id))
        now = datetime.now(UTC)
        items = standings(limits, settings.budgets.global_usd_per_day, await store.spent(found.id, now), now)
        lines = [f"{found.name}\t{_limits_text(limits)}"]
        lines += [
            f"  {s.limit_name}: {s.used} of {s.limit} used, {s.left} left, "
            f"resets {s.resets_at:%Y-%m-%d %H:%M} UTC"
            for s in items
        ]
        return lines

    for line in _run(work):
        click.echo(line)


def _limits_text(limits: BudgetLimits) -> str:
    return " ".join(f"{k}={v if v is not None else 'none'}" for k, v in limits.to_dict().items())


@budgets.command("set")
@click.argument("user")
@click.option("--usd-per-day", default=None, help="USD per day ('none': no limit).")
@click.option("--usd-per-month", default=None, help="USD per month ('none': no limit).")
@click.option("--minutes-per-day", default=None, help="Minutes of calls per day ('none': no limit).")
def budgets_set(
    user: str, usd_per_day: str | None, usd_per_month: str | None, minutes_per_day: str | None
) -> None:
    """Override USER's limits (options not given stay as they are)."""
    given = {"usd_per_day": usd_per_day, "usd_per_month": usd_per_month, "minutes_per_day": minutes_per_day}
    values = {k: _amount(v) for k, v in given.items() if v is not None}
    if not values:
        raise click.UsageError("give at least one of --usd-per-day, --usd-per-month, --minutes-per-day")

    async def work(db: Database) -> dict[str, Decimal | None]:
        found = await AccountStore(db).get_user(user)
        stored = await BudgetStore(db).set_overrides(found.id, values)
        await _forget_cached(db)  # the running servers answer overrides from memory
        return stored

    stored = _run(work)
    click.echo(f"{user}: " + " ".join(f"{k}={stored.get(k, 'default')}" for k in BUDGET_FIELDS))


@budgets.command("reset")
@click.argument("user")
def budgets_reset(user: str) -> None:
    """Back to the default limits for USER."""

    async def work(db: Database) -> None:
        await BudgetStore(db).clear_overrides((await AccountStore(db).get_user(user)).id)
        await _forget_cached(db)

    _run(work)
    click.echo(f"{user}: default limits")


# ---- roles, live calls, audit ------------------------------------------------------------------------


@click.command("role")
@click.argument("name")
@click.argument("role", type=click.Choice(["admin", "user"]))
def users_role(name: str, role: str) -> None:
    """Make NAME an admin, or a plain user."""

    async def change(db: Database) -> None:
        await AdminStore(db).set_role(name, "admin" if role == "admin" else "user")
        # The running servers answer credentials from memory: they must forget the old role at once.
        await _forget_cached(db)

    _run(change)
    click.echo(f"{name} is now {'an admin' if role == 'admin' else 'a user'}")


@click.group()
def calls() -> None:
    """Live calls: list them, end one, give one an instruction."""


@calls.command("live")
def calls_live() -> None:
    """Every live call: id, user, model, started, cost so far."""

    async def work(db: Database) -> list[str]:
        store = BudgetStore(db)
        return [
            "\t".join(
                (
                    c.id,
                    c.user_name,
                    c.model or "",
                    f"{c.started_at:%Y-%m-%d %H:%M:%S}Z",
                    f"${await store.call_cost(c.id)}",
                )
            )
            for c in await AdminStore(db).live_calls()
        ]

    for line in _run(work):
        click.echo(line)


async def _ask(db: Database, call_id: str, kind: str, data: dict[str, str]) -> None:
    call = await LedgerStore(db).get_call(call_id)
    if call is None or not call.live:
        raise NotFound(f"No live call '{call_id}'.")
    await NoticeStore(db).add(call.id, kind, data, pending=True)


@calls.command("end")
@click.argument("call_id")
def calls_end(call_id: str) -> None:
    """End a live call (the replica watching it hangs it up within a second)."""
    _run(lambda db: _ask(db, call_id, "end", {}))
    click.echo(f"asked the call's replica to end {call_id}")


@calls.command("instruct")
@click.argument("call_id")
@click.argument("text")
@click.option("--replace", is_flag=True, help="Replace the session's instructions instead of adding to them.")
def calls_instruct(call_id: str, text: str, replace: bool) -> None:
    """Give a live call's session an instruction (sent through its sideband)."""
    _run(
        lambda db: _ask(
            db, call_id, "instruct", {"instructions": text, "mode": "replace" if replace else "append"}
        )
    )
    click.echo(f"instruction queued for {call_id}")


@click.command("audit")
@click.option("--user", default=None, help="Only this user's attempts.")
@click.option("--outcome", default=None, help="Only this outcome (ok, relayed, budget_exhausted…).")
@click.option("--failed", is_flag=True, help="Only refused or failed attempts.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--before", default=None, type=int, help="Page on: the last id of the previous page.")
def audit(user: str | None, outcome: str | None, failed: bool, limit: int, before: int | None) -> None:
    """Mint and relay attempts, newest first: id, when, user, client IP, model, outcome, status."""

    async def work(db: Database) -> list[str]:
        user_id = (await AccountStore(db).get_user(user)).id if user else None
        rows = await AdminStore(db).audit(
            limit=limit, before_id=before, user_id=user_id, outcome=outcome, failed_only=failed
        )
        return [
            "\t".join(
                (
                    str(r.id),
                    f"{r.created_at:%Y-%m-%d %H:%M:%S}Z",
                    r.user_name or "-",
                    r.client_ip,
                    r.model or "",
                    r.outcome,
                    str(r.status),
                )
            )
            for r in rows
        ]

    for line in _run(work):
        click.echo(line)


def register(main: click.Group) -> None:
    """Add these commands to the ``voxgate`` command group (``role`` under ``users``)."""
    main.add_command(budgets)
    main.add_command(calls)
    main.add_command(audit)
    users = main.commands.get("users")
    if isinstance(users, click.Group):
        users.add_command(users_role)
