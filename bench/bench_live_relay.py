"""What voxgate's GPT-Live relay adds to the upstream's own time to create a Live session; goal: ≤ 5 ms
at p50, as for the Realtime relay.

    .venv/bin/python bench/bench_live_relay.py [--rounds 40] [--warmup 5] [--hold-ms 100] [--gap-ms 50]

About 30 s with the defaults. The same three processes as ``bench_relay.py`` (whose servers it reuses):
the local engine standing alone, voxgate in relay mode on it (SQLite in a temporary folder), and this
client. Each round POSTs one aiortc offer to both contenders, in alternating order: **direct**, the
engine's ``POST /v1/live/sessions`` with its key and the very session voxgate would build (the Live
policy's, with the user's ``safety_identifier``), and **relay**, voxgate's ``POST /api/live/sessions``
with a ``vg_`` key and OpenAI's shape (``{"session": {"model"}, "transport": {…}}``). The clock runs
from the request to the whole answer read. Each session then lives ``--hold-ms`` (voxgate's supervisor
attaches its sideband, and the relay wrote the ledger row and the creation charge before answering) and
is ended outside the clock (the engine's hangup; voxgate's ``/api/calls/{id}/hangup``, i.e.
``session.close`` on the sideband), then ``--gap-ms`` passes. Exits 0 either way: it is a measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx

from bench_relay import (
    KEY,
    engine_process,
    gateway_process,
    loopback_only,
    make_offer,
    make_user,
    process,
    table,
    wait_ready,
)

LIVE_MODEL = "gpt-live-1.1"


class LiveContender:
    """One place to POST a Live offer to (JSON), and how to end the session it answered."""

    def __init__(self, name: str, url: str, body: dict[str, Any], key: str, hangup: str) -> None:
        self.name, self.url, self.body, self.hangup = name, url, body, hangup
        self.headers = {"Authorization": f"Bearer {key}"}

    async def once(self, client: httpx.AsyncClient, sdp: str) -> tuple[float, str]:
        body = {**self.body, "transport": {"type": "webrtc", "sdp": sdp}}
        start = time.perf_counter()
        answer = await client.post(self.url, json=body, headers=self.headers)
        elapsed = (time.perf_counter() - start) * 1000
        if answer.status_code != 201:
            raise RuntimeError(f"{self.name}: HTTP {answer.status_code}: {answer.text[:500]}")
        return elapsed, str(answer.json()["session"]["id"])

    async def end(self, client: httpx.AsyncClient, session_id: str) -> None:
        done = await client.post(self.hangup.format(id=session_id), headers=self.headers)
        if done.status_code not in (200, 204):
            raise RuntimeError(f"{self.name} hangup: HTTP {done.status_code}: {done.text[:500]}")


async def measure(
    args: argparse.Namespace, contenders: list[LiveContender], sdp: str
) -> dict[str, list[float]]:
    """Warm-up, then ``args.rounds`` rounds alternating which contender goes first."""
    times: dict[str, list[float]] = {c.name: [] for c in contenders}
    async with httpx.AsyncClient(timeout=30) as client:
        for round_ in range(-args.warmup, args.rounds):
            for contender in contenders if round_ % 2 == 0 else contenders[::-1]:
                elapsed, session_id = await contender.once(client, sdp)
                await asyncio.sleep(args.hold_ms / 1000)
                await contender.end(client, session_id)
                if round_ >= 0:
                    times[contender.name].append(elapsed)
                await asyncio.sleep(args.gap_ms / 1000)
    return times


async def run(args: argparse.Namespace, folder: Path) -> None:
    from voxgate.control.live_policy import LivePolicy
    from voxgate.core.credentials import safety_identifier
    from voxgate.settings import Settings

    database_url = f"sqlite+aiosqlite:///{folder / 'voxgate.db'}"
    with process(engine_process, False) as (engine_port, _):
        engine = f"http://127.0.0.1:{engine_port}"
        await wait_ready(f"{engine}/v1/models", {"Authorization": f"Bearer {KEY}"})
        key = await make_user(database_url)
        settings: dict[str, Any] = {
            "OPENAI_API_KEY": KEY,
            "upstream_url": f"{engine}/v1",
            "console_mode": "relay",
            "data_dir": str(folder),
            "database_url": database_url,
            "log_level": "warning",
            "limits": {"calls_per_user": "1000000/minute"},
        }
        with process(gateway_process, settings, False, False) as (gateway_port, _):
            gateway = f"http://127.0.0.1:{gateway_port}"
            await wait_ready(f"{gateway}/readyz")
            policy = LivePolicy(**Settings(_env_file=None).live.model_dump())
            # The bench's user is the database's first: the session voxgate builds for it, sent directly.
            session = policy.build(None, safety_identifier=safety_identifier(1))
            direct = LiveContender(
                "direct", f"{engine}/v1/live/sessions", {"session": session}, KEY,
                engine + "/v1/live/sessions/{id}/hangup",
            )  # fmt: skip
            relay = LiveContender(
                "relay", f"{gateway}/api/live/sessions", {"session": {"model": policy.model}}, key,
                gateway + "/api/calls/{id}/hangup",
            )  # fmt: skip
            pc, sdp = await make_offer()
            print(
                f"voxgate's GPT-Live relay vs the engine creating the session directly: {os.cpu_count()} "
                f"cores, load {os.getloadavg()[0]:.1f}; voxgate on SQLite; one offer text; "
                f"hold {args.hold_ms:g} ms, gap {args.gap_ms:g} ms"
            )
            times = await measure(args, [direct, relay], sdp)
            table(
                "POST /live/sessions → answer, sequential, one keep-alive connection",
                times["direct"],
                times["relay"],
            )
            await pc.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40, help="measured rounds (each contender once)")
    parser.add_argument("--warmup", type=int, default=5, help="rounds before measuring")
    parser.add_argument("--hold-ms", type=float, default=100.0, help="how long each session lives")
    parser.add_argument("--gap-ms", type=float, default=50.0, help="pause after each session's end")
    args = parser.parse_args()
    args.rounds = max(1, min(args.rounds, 1000))
    for name in [n for n in os.environ if n.startswith("VOXGATE_") or n == "OPENAI_API_KEY"]:
        del os.environ[name]
    loopback_only()
    with tempfile.TemporaryDirectory(prefix="bench-live-relay-") as tmp:
        asyncio.run(run(args, Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
