"""What admission adds to each mint and relay: the budget and cap checks alone, in-process.

    .venv/bin/python bench/bench_admission.py [--rounds 300] [--postgres URL] [--redis URL]

Contenders, measured in alternating order each round (so other load on a shared machine falls on all
of them alike), each on a real database (SQLite in a temporary folder, or ``--postgres``) and a real slot
store (in-process, or Redis with ``--redis``):

* **relay, no budget**: ``admit_call`` + ``release`` for a user with no limit set (the default): the
  user's overrides (one primary-key read) and one Redis script;
* **relay, budgets**: the same with a daily and a monthly USD limit and a minutes limit: the spend
  queries are added (the user has 20 recorded calls of 3 responses);
* **mint, budgets**: ``check_mint`` with those limits (no slot is taken).

Prints p50 / p90 in milliseconds and each contender's p50 over the no-budget relay's. Exits 0: it is a
measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path

from voxgate.adapters.call_slots import open_slots
from voxgate.adapters.sql import AccountStore, Database, LedgerStore
from voxgate.adapters.sql.budgets import BudgetStore
from voxgate.control.admission import Admission, AdmissionConfig
from voxgate.core.budgets import BudgetLimits
from voxgate.core.ledger import CallResponse, NewCall
from voxgate.core.prices import default_prices

MODEL = "gpt-realtime-2.1"


async def seed(db: Database, name: str) -> int:
    """A user with 20 ended calls of 3 priced responses each."""
    accounts, ledger = AccountStore(db), LedgerStore(db)
    user = await accounts.create_user(name)
    for i in range(20):
        call = await ledger.open_call(NewCall(f"rtc_{name}_{i}", user.id, "relay", MODEL, None, None))
        for j in range(3):
            usage = {"input_tokens": 100, "output_tokens": 50}
            await ledger.record_response(
                call.id, CallResponse(f"resp_{i}_{j}", "completed", usage, Decimal("0.001"))
            )
        await ledger.end_call(call.id, "hangup")
    return user.id


async def run(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-admission-"))
    url = args.postgres or f"sqlite+aiosqlite:///{folder / 'bench.db'}"
    db = Database(url)
    await db.migrate()
    slots = open_slots(args.redis, prefix=f"bench-{secrets.token_hex(3)}")
    budgets = BudgetStore(db)
    config = AdmissionConfig(
        defaults=BudgetLimits(),
        global_usd_per_day=None,
        admission_minutes=Decimal(1),
        per_user=1000,
        total=None,
    )
    admission = Admission(budgets=budgets, slots=slots, prices=default_prices(), config=config)
    tag = secrets.token_hex(3)
    free = await seed(db, f"free-{tag}")
    limited = await seed(db, f"limited-{tag}")
    await budgets.set_overrides(
        limited,
        {"usd_per_day": Decimal(100), "usd_per_month": Decimal(1000), "minutes_per_day": Decimal(600)},
    )

    async def relay(user_id: int) -> None:
        call_id = "vgc_" + secrets.token_hex(12)
        await admission.admit_call(user_id, MODEL, call_id)
        await admission.release(user_id, call_id)

    contenders: dict[str, Callable[[], Awaitable[None]]] = {
        "relay, no budget": lambda: relay(free),
        "relay, budgets": lambda: relay(limited),
        "mint, budgets": lambda: admission.check_mint(limited, MODEL),
    }
    times: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for round_ in range(args.warmup + args.rounds):
        order = names if round_ % 2 == 0 else names[::-1]
        for name in order:
            start = time.perf_counter()
            await contenders[name]()
            if round_ >= args.warmup:
                times[name].append((time.perf_counter() - start) * 1000)
    base = statistics.median(times[names[0]])
    database, store = ("postgresql" if args.postgres else "sqlite"), ("redis" if args.redis else "memory")
    print(f"database: {database}; slots: {store}")
    print(f"{'contender':<20} {'p50 ms':>8} {'p90 ms':>8} {'x':>6}")
    for name in names:
        values = sorted(times[name])
        p50, p90 = statistics.median(values), values[int(len(values) * 0.9)]
        print(f"{name:<20} {p50:8.2f} {p90:8.2f} {p50 / base:6.2f}")
    await slots.aclose()
    await db.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--postgres", default=None, help="a postgresql+asyncpg:// URL of a scratch database")
    parser.add_argument("--redis", default=None, help="a redis:// URL")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
