"""Minting and relaying under load: voxgate beside the Express server from OpenAI's guide, and the stub.

    .venv/bin/python bench/bench_http.py [--quick] [--rounds 3] [--seconds 5] [--delays 0,50]
        [--connections 1,64] [--paths mint,relay] [--out bench/results/http.json]

About 6 minutes with the defaults, 2 with ``--quick``. Needs ``wrk`` (Debian) and ``node`` with
``bench/express`` installed (``npm ci --prefix bench/express``): ``make bench`` sees to both.

Processes on 127.0.0.1, one event loop each: a **stub** of the Realtime API (``bench/express/stub.js``,
node's http module, answering at once or after ``--delays`` ms); **Express** (``bench/express/server.js``,
the guide's token server, one process) and **voxgate** (``voxgate serve`` as it starts by default: SQLite,
its default worker count, authentication, rate limits and the audit log on, in ``ephemeral`` mode so that
a mint calls the upstream as Express does), both pointed at the stub; and **wrk**, the one load
generator for every contender. ``direct`` is wrk against the stub itself: what a client calling the
upstream without any gateway sees.

Paths: ``mint`` (Express ``GET /token``, voxgate ``POST /api/realtime-token`` with a ``vg_`` key, direct
``POST /v1/realtime/client_secrets``) and ``relay`` (an SDP offer: Express ``POST /session``, voxgate
``POST /api/realtime/calls``, direct ``POST /v1/realtime/calls``). The stub accepts a relayed call's
sideband and closes it at once, so voxgate pays for each call's whole life (ledger, supervisor attach,
end) within the run.

Each round runs every contender once for ``--seconds``, in alternating order (ABC, CBA, …) so that
whatever else the machine does lands on all of them evenly; figures are medians over the rounds. CPU per
request is the contender's process tree's user+system time over the run divided by its requests.
``--shared`` runs voxgate as replicas run it: on a throwaway PostgreSQL database and Redis (127.0.0.1),
where ``voxgate serve`` starts one worker per core. ``--before-src DIR`` adds an earlier voxgate (its
``src`` folder, e.g. from ``git archive``) as one more contender in the same rounds: before and after
measured side by side, alternating, on the same load.
Writes one JSON document (``--out``) that ``bench/report.py`` turns into the report. Exits 0 either way:
it is a measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
EXPRESS = HERE / "express"
KEY = "sk-bench-4f1c9a7e2b6d8053e1a9c4b7f2d6e8a1"  # a fake key: the stub takes any
OFFER = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" + "a=candidate:x\r\n" * 40
GOALS = {
    "throughput_vs_express": 1.0,  # voxgate rps / Express rps at 64 connections
    "added_p50_ms_at_1": 1.0,  # voxgate p50 − direct p50 at 1 connection
}

_LUA = """
wrk.method = "{method}"
wrk.body = {body}
{headers}
done = function(summary, latency, requests)
  io.write(string.format(
    "WRKJSON {{\\"requests\\":%d,\\"duration_us\\":%d,\\"connect_errors\\":%d,\\"read_errors\\":%d," ..
    "\\"write_errors\\":%d,\\"timeouts\\":%d,\\"non2xx\\":%d,\\"p50_us\\":%d,\\"p90_us\\":%d," ..
    "\\"p99_us\\":%d,\\"mean_us\\":%f}}\\n",
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, summary.errors.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean))
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


@contextmanager
def process(args: list[str], env: dict[str, str], port: int, cwd: Path | None = None) -> Iterator[int]:
    proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_port(port)
        yield proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cpu_seconds(pid: int) -> float:
    """User+system CPU of ``pid`` and its descendants (waited-for children included), from /proc."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pending = [pid]
    while pending:
        current = pending.pop()
        with suppress(OSError):
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(v) for v in fields[11:15]) / tick  # utime stime cutime cstime
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
    return total


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        with suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
    return found


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants, MB."""
    total = 0
    for member in tree(pid):
        with suppress(OSError):
            line = next(
                ln for ln in Path(f"/proc/{member}/status").read_text().splitlines() if ln.startswith("VmRSS")
            )
            total += int(line.split()[1])
    return total / 1024


@contextmanager
def rss_peak(pid: int) -> Iterator[list[float]]:
    """The largest RSS of ``pid``'s tree while the block runs, sampled every 100 ms (in ``[0]``)."""
    peak = [rss_mb(pid)]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.1):
            peak[0] = max(peak[0], rss_mb(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        stop.set()
        sampler.join()


def lua_script(folder: Path, name: str, method: str, headers: dict[str, str], body: str | None) -> Path:
    lines = "\n".join(f'wrk.headers["{k}"] = {json.dumps(v)}' for k, v in headers.items())
    path = folder / f"{name}.lua"
    path.write_text(_LUA.format(method=method, body=json.dumps(body) if body else "nil", headers=lines))
    return path


def wrk(url: str, script: Path, connections: int, seconds: float) -> dict[str, Any]:
    result = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {result.stdout[-500:]} {result.stderr[-500:]}")
    figures: dict[str, Any] = json.loads(line.split(" ", 1)[1])
    figures["errors"] = sum(
        figures[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts", "non2xx")
    )
    figures["rps"] = figures["requests"] / (figures["duration_us"] / 1e6)
    return figures


PG_ADMIN_URL = os.environ.get("VOXGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("VOXGATE_TEST_REDIS", "redis://127.0.0.1:6379/0")


def _pg(sql: str) -> None:
    import asyncio

    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


@contextmanager
def shared_state(enabled: bool) -> Iterator[dict[str, str]]:
    """With ``--shared``: a throwaway PostgreSQL database and a Redis prefix of its own (the replicas'
    setup, in which ``voxgate serve`` starts one worker per core); otherwise nothing (SQLite)."""
    if not enabled:
        yield {}
        return
    name = "voxgate_bench_" + os.urandom(4).hex()
    _pg(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    try:
        yield {
            "VOXGATE_DATABASE_URL": f"{base}/{name}",
            "VOXGATE_REDIS_URL": REDIS_URL,
            "VOXGATE_REDIS_PREFIX": name,
        }
    finally:
        _pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def voxgate_env(data: Path, stub: str, src: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOXGATE_") and k != "OPENAI_API_KEY"}
    env.update(
        VOXGATE_DATA_DIR=str(data),
        OPENAI_API_KEY=KEY,
        VOXGATE_UPSTREAM_URL=stub,
        VOXGATE_CONSOLE_MODE="ephemeral",
        # Limits on, but wide enough for a benchmark's single user.
        VOXGATE_LIMITS__MINT_PER_USER="10000000/minute;100000000/hour",
        VOXGATE_LIMITS__CALLS_PER_USER="10000000/minute;100000000/hour",
        VOXGATE_CALLS__PER_USER="1000000",
        VOXGATE_LOG_LEVEL="warning",
    )
    if src:
        env["PYTHONPATH"] = src
    return env


def voxgate_key(env: dict[str, str]) -> str:
    run = [sys.executable, "-m", "voxgate"]
    subprocess.run([*run, "migrate"], env=env, check=True, capture_output=True)
    subprocess.run([*run, "users", "add", "bench"], env=env, check=True, capture_output=True)
    created = subprocess.run(
        [*run, "keys", "create", "bench"], env=env, check=True, capture_output=True, text=True
    )
    return created.stdout.split()[0]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "rounds": len(runs),
        "rps": median([r["rps"] for r in runs]),
        "p50_ms": median([r["p50_us"] / 1000 for r in runs]),
        "p90_ms": median([r["p90_us"] / 1000 for r in runs]),
        "p99_ms": median([r["p99_us"] / 1000 for r in runs]),
        "errors": sum(r["errors"] for r in runs),
        "requests": sum(r["requests"] for r in runs),
        "cpu_ms_per_request": median([r["cpu_ms_per_request"] for r in runs if "cpu_ms_per_request" in r]),
        "rss_idle_mb": runs[0]["rss_idle_mb"] if runs else None,
        "rss_max_mb": max((r["rss_max_mb"] for r in runs), default=None),
    }


def run_delay(
    args: argparse.Namespace, delay: int, folder: Path, shared: tuple[dict[str, str], dict[str, str]]
) -> dict[str, Any]:
    stub_port, express_port, voxgate_port = free_port(), free_port(), free_port()
    node_env = {**os.environ, "STUB_DELAY_MS": str(delay), "PORT": str(stub_port)}
    stub_url = f"http://127.0.0.1:{stub_port}/v1"
    express_env = {
        **os.environ,
        "OPENAI_API_KEY": KEY,
        "OPENAI_BASE_URL": stub_url,
        "PORT": str(express_port),
    }
    data = folder / f"voxgate-{delay}"
    data.mkdir(parents=True, exist_ok=True)
    env = {**voxgate_env(data, stub_url, args.voxgate_src), **shared[0]}
    key = voxgate_key(env)
    serve = [sys.executable, "-m", "voxgate", "serve", "--port", str(voxgate_port)]
    sdp = {"Content-Type": "application/sdp"}
    bearer = {"Authorization": f"Bearer {key}"}
    # An earlier voxgate (--before-src) as one more contender, in the same alternating rounds.
    before_port = free_port()
    before_data = folder / f"before-{delay}"
    before_data.mkdir(parents=True, exist_ok=True)
    before_env = (
        {**voxgate_env(before_data, stub_url, args.before_src), **shared[1]} if args.before_src else None
    )
    before_bearer = {"Authorization": f"Bearer {voxgate_key(before_env)}"} if before_env else {}
    targets = {
        "mint": {
            "express": (f"http://127.0.0.1:{express_port}/token", "GET", {}, None),
            "voxgate": (f"http://127.0.0.1:{voxgate_port}/api/realtime-token", "POST", bearer, None),
            "direct": (
                f"{stub_url}/realtime/client_secrets",
                "POST",
                {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
                '{"session":{"type":"realtime","model":"gpt-realtime"}}',
            ),
        },
        "relay": {
            "express": (f"http://127.0.0.1:{express_port}/session", "POST", sdp, OFFER),
            "voxgate": (
                f"http://127.0.0.1:{voxgate_port}/api/realtime/calls",
                "POST",
                {**sdp, **bearer},
                OFFER,
            ),
            "direct": (
                f"{stub_url}/realtime/calls",
                "POST",
                {"Authorization": f"Bearer {KEY}", **sdp},
                OFFER,
            ),
        },
    }
    if before_env is not None:
        base = f"http://127.0.0.1:{before_port}"
        targets["mint"]["before"] = (f"{base}/api/realtime-token", "POST", before_bearer, None)
        targets["relay"]["before"] = (f"{base}/api/realtime/calls", "POST", {**sdp, **before_bearer}, OFFER)
    results: dict[str, Any] = {}
    with ExitStack() as stack:
        stub_pid = stack.enter_context(process(["node", "stub.js"], node_env, stub_port, cwd=EXPRESS))
        express_pid = stack.enter_context(
            process(["node", "server.js"], express_env, express_port, cwd=EXPRESS)
        )
        voxgate_pid = stack.enter_context(process(serve, env, voxgate_port, cwd=data))
        pids = {"express": express_pid, "voxgate": voxgate_pid, "direct": stub_pid}
        if before_env is not None:
            before_serve = [*serve[:-1], str(before_port)]
            pids["before"] = stack.enter_context(
                process(before_serve, before_env, before_port, cwd=before_data)
            )
        idle = {name: rss_mb(pid) for name, pid in pids.items()}
        for path in args.paths:
            scripts = {
                name: (url, lua_script(folder, f"{path}-{name}", method, headers, body))
                for name, (url, method, headers, body) in targets[path].items()
            }
            for url, script in scripts.values():  # warm-up: connections, caches, JIT
                wrk(url, script, 8, 1)
            for connections in args.connections:
                runs: dict[str, list[dict[str, Any]]] = {name: [] for name in scripts}
                for round_ in range(args.rounds):
                    order = list(scripts) if round_ % 2 == 0 else list(reversed(scripts))
                    for name in order:
                        url, script = scripts[name]
                        before = cpu_seconds(pids[name])
                        with rss_peak(pids[name]) as peak:
                            figures = wrk(url, script, connections, args.seconds)
                        cpu = cpu_seconds(pids[name]) - before
                        figures["cpu_ms_per_request"] = 1000 * cpu / max(1, figures["requests"])
                        figures["rss_idle_mb"], figures["rss_max_mb"] = idle[name], peak[0]
                        runs[name].append(figures)
                        print(
                            f"  delay {delay:>2} ms {path:<5} c={connections:<2} {name:<8} "
                            f"{figures['rps']:8.0f} req/s  p50 {figures['p50_us'] / 1000:6.2f} ms  "
                            f"p99 {figures['p99_us'] / 1000:7.2f} ms  errors {figures['errors']}",
                            flush=True,
                        )
                results[f"{path}/c{connections}"] = {name: summarize(r) for name, r in runs.items()}
    return results


def machine() -> dict[str, Any]:
    model = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in ln
        ),
        "unknown",
    )
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    return {
        "cpus": os.cpu_count(),
        "cpu": model,
        "python": sys.version.split()[0],
        "node": node,
        "load_before": os.getloadavg()[0],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds of 3 s")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--delays", default="0,50", help="the stub's answer delays, ms")
    parser.add_argument("--connections", default="1,64")
    parser.add_argument("--paths", default="mint,relay")
    parser.add_argument("--out", default=str(HERE / "results" / "http.json"))
    parser.add_argument("--voxgate-src", help="run voxgate from this src folder instead of the installed one")
    parser.add_argument("--before-src", help="also run an earlier voxgate from this src folder, as 'before'")
    parser.add_argument(
        "--shared", action="store_true", help="voxgate on PostgreSQL + Redis (one worker per core by default)"
    )
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds = 2, 3.0
    args.connections = [int(c) for c in args.connections.split(",")]
    args.paths = args.paths.split(",")
    for tool in ("wrk", "node"):
        if shutil.which(tool) is None:
            print(f"bench_http: {tool} is not installed (make bench installs it)", file=sys.stderr)
            return 0
    if not (EXPRESS / "node_modules" / "express").exists():
        print("bench_http: run `npm ci --prefix bench/express` first (make bench does)", file=sys.stderr)
        return 0
    started = time.time()
    document: dict[str, Any] = {
        "bench": "http",
        "started": started,
        "machine": machine(),
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "goals": GOALS,
        "results": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        for delay in (int(d) for d in args.delays.split(",")):
            with (
                shared_state(args.shared) as after,
                shared_state(args.shared and bool(args.before_src)) as before,
            ):
                document["results"][f"delay{delay}"] = run_delay(args, delay, Path(tmp), (after, before))
    document["seconds"] = round(time.time() - started, 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {out} ({document['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
