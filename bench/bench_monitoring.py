"""What monitoring adds to a mint: the request log (JSON, at INFO, to /dev/null) and the metrics.

    .venv/bin/python bench/bench_monitoring.py [--rounds 400] [--warmup 30]

Three contenders, one gateway process each way in this process (``create_app`` on a SQLite file, relay
mode: a mint issues a relay ticket, no upstream involved), called in-process through httpx's ASGI
transport, one request at a time, in rotating order each round:

* **full**: as ``voxgate serve`` runs with ``VOXGATE_LOG_FORMAT=json``: one access line per request with
  its request id, and every metric recorded;
* **no-log**: the access line off (``VOXGATE_MONITORING__ACCESS_LOG=false``), metrics still recorded;
* **bare**: no access line, and every ``voxgate.adapters.metrics`` recording function a no-op (the
  request-id middleware still runs: it cannot be taken out).

The clock runs from the request to the whole answer read. It prints p50/p95 per contender and the
ratio of each p50 to bare's, then the time of one ``GET /metrics`` scrape.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from voxgate.adapters import metrics
from voxgate.settings import Settings
from voxgate.web.app import create_app
from voxgate.web.log_format import configure_logging

RECORDERS = [name for name in metrics.__all__ if name[0].islower() and name != "seconds_since"]


def _settings(folder: Path, access_log: bool) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=folder,
        embed_engine=False,
        console_mode="relay",
        limits={"mint_per_user": "1000000/minute"},
        monitoring={"access_log": access_log},
        log_format="json",
    )


async def _contender(folder: Path, access_log: bool) -> tuple[Any, httpx.AsyncClient, str]:
    app = create_app(_settings(folder, access_log))
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    services = app.state.services
    await services.accounts.create_user("bench")
    _, key = await services.accounts.create_api_key("bench")
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1")
    return lifespan, client, key


def _silence_metrics() -> Callable[[], None]:
    saved = {name: getattr(metrics, name) for name in RECORDERS}
    for name in RECORDERS:
        setattr(metrics, name, lambda *args, **kwargs: None)

    def restore() -> None:
        for name, function in saved.items():
            setattr(metrics, name, function)

    return restore


async def _mint(client: httpx.AsyncClient, key: str) -> float:
    started = time.perf_counter()
    response = await client.post("/api/realtime-token", headers={"Authorization": f"Bearer {key}"})
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, response.text
    return elapsed


async def main(rounds: int, warmup: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        names = ["full", "no-log", "bare"]
        contenders = {name: await _contender(Path(tmp) / name, access_log=(name == "full")) for name in names}
        times: dict[str, list[float]] = {name: [] for name in names}
        for index in range(warmup + rounds):
            order = names[index % 3 :] + names[: index % 3]
            for name in order:
                _, client, key = contenders[name]
                restore = _silence_metrics() if name == "bare" else None
                try:
                    elapsed = await _mint(client, key)
                finally:
                    if restore is not None:
                        restore()
                if index >= warmup:
                    times[name].append(elapsed)
        bare = statistics.median(times["bare"])
        print(f"mint, {rounds} rounds (ms)      p50     p95   p50 / bare")
        for name in names:
            ordered = sorted(times[name])
            p50, p95 = statistics.median(ordered), ordered[int(len(ordered) * 0.95) - 1]
            print(f"  {name:8s}                 {p50:6.2f}  {p95:6.2f}   {p50 / bare:5.3f}")
        _, client, _ = contenders["full"]
        scrapes = []
        for _ in range(50):
            started = time.perf_counter()
            assert (await client.get("/metrics")).status_code == 200
            scrapes.append((time.perf_counter() - started) * 1000)
        print(f"GET /metrics (one process), p50 {statistics.median(scrapes):.2f} ms")
        for lifespan, client, _ in contenders.values():
            await client.aclose()
            await lifespan.__aexit__(None, None, None)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=30)
    options = parser.parse_args()
    with open(os.devnull, "w") as sink:
        configure_logging("info", "json", sink)
        asyncio.run(main(options.rounds, options.warmup))
