"""What voxgate's SDP relay adds to the upstream's own time to answer an offer; goal: ≤ 5 ms at p50.

    .venv/bin/python bench/bench_relay.py [--rounds 60] [--warmup 5] [--hold-ms 100] [--gap-ms 50]
        [--connections keepalive|fresh|both] [--direct-body sdp|multipart] [--fresh-offers]
        [--data-dir DIR] [--postgres] [--redis] [--profile [N]] [--bare]

About 40 s with the defaults.

Three processes on 127.0.0.1, so that no two of client, gateway and engine share an event loop (or a
GIL): a loop shared with the client would charge the gateway for the client's work and the reverse.

* the **engine**: the local realtime engine standing alone (uvicorn, as ``voxgate engine`` serves it,
  heap frozen after start), with a cheap tone synthesizer and no speech models: none of them is used
  before a call connects, and no call connects here;
* **voxgate**: ``create_app`` (heap frozen, as ``voxgate serve``) in relay mode with the engine as its
  upstream (``OPENAI_API_KEY`` = the engine's standard key), a SQLite file in a temporary folder
  (``--postgres``: a throwaway PostgreSQL database; ``--redis``: rate limits and leases in Redis), the
  relay's rate limit raised out of the way, logs at ``warning`` in both servers (no access log);
* the **client** (this process): one aiortc offer (audio sendrecv + the ``oai-events`` channel, as
  OpenAI's browser example makes it), POSTed as ``application/sdp`` with httpx, one request at a time.

Each round POSTs the offer to both contenders, in alternating order: **direct**, the engine's
``/v1/realtime/calls`` with its key (what a client with an ``ek_`` key does), and **relay**, voxgate's
``/api/realtime/calls`` with a ``vg_`` key. The clock runs from the request to the whole answer read.
Each call then lives ``--hold-ms`` (so that voxgate's supervisor attaches its sideband, as it would to
any real call: the bench reports how many it attached) and is hung up (engine hangup; voxgate
``/api/calls/{id}/hangup``), outside the clock, and ``--gap-ms`` passes before the next request, so one
call's teardown and supervision do not land in the next measurement.
The offer text is made once and reused (``--fresh-offers``: a new peer connection per round, made
outside the clock): the engine answers every POST with a new peer of its own either way, and one text
keeps the client's own noise out. ``--connections``: ``keepalive`` (default) reuses one connection per
server, as a page that has loaded from voxgate does; ``fresh`` opens one per request for both.

The direct POST carries the bare offer; the relay sends the engine multipart ``sdp`` + the policy's
``session`` (the official SDK's shape), so any extra work that makes for the engine counts against the
relay. ``--direct-body multipart`` sends the direct POST that same body instead.

Both servers time each offer they handle (an ASGI wrapper: from the request to the last byte of the
answer handed to uvicorn) and voxgate times the relay route's steps (wrappers around them, installed in
its process only), giving where the difference goes: the client ↔ voxgate hop, voxgate's own steps, the
SDK and hop to the engine, and the engine's own time. That instrumentation costs a few µs per request;
``--bare`` leaves it out. A step the code no longer has is left out with a warning. ``--profile`` runs
voxgate's event-loop thread under cProfile during the measured rounds (inflating its times: read it for
where the time goes, not for the goal) and prints the top functions; the SQL itself runs in aiosqlite's
threads, outside that profile. For a sampling profiler (``py-spy record --pid …``) the bench prints
both servers' pids.

The machine may be shared: the alternation spreads other load over both contenders evenly, but the
spread (p90) is worth reading before the p50s. Exits 0 either way: it is a measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import cProfile
import functools
import gc
import json
import logging
import multiprocessing
import os
import pstats
import secrets
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' tone synthesizer

import aioice.ice
import httpx

KEY = "sk-bench-relay-0123456789abcdef"  # a fake key for the local engine
GOAL_MS = 5.0
PG_ADMIN_URL = os.environ.get("VOXGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("VOXGATE_TEST_REDIS", "redis://127.0.0.1:6379/0")
ENGINE_CALLS = "/v1/realtime/calls"
RELAY_CALLS = "/api/realtime/calls"

# The relay route's steps as the table shows them: (name, depth). Depth 0 runs one after the other.
STEPS = [
    ("caller", 0),
    ("authenticate", 1),
    ("limiter.check", 2),
    ("check_api_key", 2),
    ("read_offer", 0),
    ("policy.build", 0),
    ("limiter.hit", 0),
    # The pending audit row is written while the call is made (both inside ``alongside``).
    ("audit.alongside", 0),
    ("audit.begin", 1),
    ("relay_offer", 1),
    ("upstream.create_call", 2),
    ("ledger.open_call", 2),
    ("audit.finish", 0),
]


def loopback_only() -> None:
    """ICE offers only 127.0.0.1 (aioice skips loopback and has no option for it)."""
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


# ---- timing inside the servers ---------------------------------------------------------------------

_STEPS: contextvars.ContextVar[list[tuple[str, float]] | None] = contextvars.ContextVar("steps", default=None)


def _timed_async(name: str, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        finally:
            steps = _STEPS.get()
            if steps is not None:
                steps.append((name, (time.perf_counter() - start) * 1000))

    return wrapper


def _timed_sync(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            steps = _STEPS.get()
            if steps is not None:
                steps.append((name, (time.perf_counter() - start) * 1000))

    return wrapper


def instrument_gateway() -> None:
    """Wrap the relay route's steps (in the gateway's process only) so each request records their times."""
    from voxgate.adapters.ratelimit import RateLimiter
    from voxgate.adapters.sql import AccountStore, LedgerStore
    from voxgate.adapters.upstream import OpenAIUpstream
    from voxgate.core.policy import SessionPolicy
    from voxgate.web.audit import AttemptAudit
    from voxgate.web.routes import relay

    patches: list[tuple[Any, str, str, bool]] = [
        # The route looks these up in its module at call time: replacing the module's names is enough.
        (relay, "_caller", "caller", True),
        (relay, "authenticate", "authenticate", True),
        (relay, "_read_offer", "read_offer", True),
        (relay, "relay_offer", "relay_offer", True),
        (SessionPolicy, "build", "policy.build", False),
        (RateLimiter, "check", "limiter.check", True),
        (RateLimiter, "hit", "limiter.hit", True),
        (AccountStore, "check_api_key", "check_api_key", True),
        (AttemptAudit, "alongside", "audit.alongside", True),
        (AttemptAudit, "begin", "audit.begin", True),
        (AttemptAudit, "finish", "audit.finish", True),
        (OpenAIUpstream, "create_call", "upstream.create_call", True),
        (LedgerStore, "open_call", "ledger.open_call", True),
    ]
    for owner, attribute, name, is_async in patches:
        original = getattr(owner, attribute, None)
        if original is None:  # the code moved on: that step is left out of the table (shown as 0)
            logging.getLogger("bench").warning("bench: no %s.%s to time", owner.__name__, attribute)
            continue
        setattr(owner, attribute, (_timed_async if is_async else _timed_sync)(name, original))


class Timed:
    """ASGI wrapper: times each POST to ``path`` (request in → last answer byte handed to the server)
    with the steps recorded meanwhile, and serves ``/__bench/stats|reset|profile`` to the bench."""

    def __init__(self, app: Any, path: str, *, record: bool, profile: bool) -> None:
        self.app = app
        self.path = path
        self.record = record
        self.profiler = cProfile.Profile() if profile else None
        self.requests: list[dict[str, Any]] = []
        self.sidebands = {"attached": 0, "refused": 0}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket" and b"call_id=" in scope.get("query_string", b""):
            await self._sideband(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith("/__bench/"):
            await self._control(scope, send)
            return
        if not (self.record and scope["method"] == "POST" and scope["path"] == self.path):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        # Who sent it: the official SDK (voxgate relaying) or the bench's own client.
        sender = "sdk" if headers.get(b"user-agent", b"").startswith(b"AsyncOpenAI") else "client"
        steps: list[tuple[str, float]] = []
        token = _STEPS.set(steps)
        start = time.perf_counter()
        ended: list[float] = []

        async def timed_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body"):
                ended.append(time.perf_counter())
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            _STEPS.reset(token)
        if ended:
            total = (ended[0] - start) * 1000
            # Steps of tasks the request started (the supervisor's) may end later: not this request's.
            self.requests.append({"sender": sender, "ms": total, "steps": list(steps)})

    async def _sideband(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Count the sidebands (``?call_id=``) accepted and refused: did the supervisor attach in time?"""

        answered: list[str] = []

        async def counted_send(message: dict[str, Any]) -> None:
            if not answered:  # the first message accepts or refuses the handshake
                answered.append("attached" if message["type"] == "websocket.accept" else "refused")
                self.sidebands[answered[0]] += 1
            await send(message)

        await self.app(scope, receive, counted_send)

    async def _control(self, scope: dict[str, Any], send: Any) -> None:
        action = scope["path"].removeprefix("/__bench/")
        body = b"{}"
        if action == "stats":
            body = json.dumps({"requests": self.requests, "sidebands": self.sidebands}).encode()
        elif action == "reset":
            self.requests.clear()
            self.sidebands = {"attached": 0, "refused": 0}
            if self.profiler is not None:
                # Everything the event loop's thread does from now on: the relay requests, the
                # supervisor's work, the hangups, and the loop's own waiting.
                self.profiler.disable()
                self.profiler = cProfile.Profile()
                self.profiler.enable()
        elif action == "profile" and self.profiler is not None:
            self.profiler.disable()
            self.profiler.dump_stats(scope["query_string"].decode())
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"json")]})
        await send({"type": "http.response.body", "body": body})


def _serve(app: Any, ports: Any) -> None:
    """Serve ``app`` on a free loopback port, told to the parent through ``ports``."""
    import uvicorn

    # IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say they are TCP (else Nagle + delayed
    # ACKs hold small writes for ~40 ms).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    ports.put(sock.getsockname()[1])
    config = uvicorn.Config(app, log_level="warning", lifespan="on", ws_max_size=32 * 1024 * 1024)
    uvicorn.Server(config).run(sockets=[sock])


def engine_process(ports: Any, record: bool) -> None:
    """The engine alone, as ``voxgate engine`` serves it, with a cheap synthesizer and no speech models."""
    from tests.engine.realtime_kit import ToneSynthesizer

    from voxgate.engine.config import EngineConfig
    from voxgate.engine.server.http import create_engine_app

    logging.basicConfig(level=logging.WARNING)
    # uvicorn's websockets-sansio protocol logs this after a *correct* denial response too (an HTTP 404
    # to a sideband for a call already over, as the supervisor's last re-attach after a hangup gets).
    logging.getLogger("uvicorn.error").addFilter(
        lambda record: record.getMessage() != "ASGI callable returned without completing handshake."
    )
    loopback_only()
    app = create_engine_app(EngineConfig(api_keys=frozenset({KEY})), synthesizer=ToneSynthesizer())
    gc.collect()
    gc.freeze()
    _serve(Timed(app, ENGINE_CALLS, record=record, profile=False), ports)


def gateway_process(ports: Any, settings: dict[str, Any], record: bool, profile: bool) -> None:
    """voxgate in relay mode on the engine, as ``voxgate serve`` runs it (heap frozen at start)."""
    from voxgate.settings import Settings
    from voxgate.web.app import create_app

    logging.basicConfig(level=logging.WARNING)
    if record:
        instrument_gateway()
    app = create_app(Settings(_env_file=None, **settings), freeze_heap=True)
    _serve(Timed(app, RELAY_CALLS, record=record, profile=profile), ports)


# ---- the bench -------------------------------------------------------------------------------------


class Contender:
    """One place to POST the offer to, and how to hang up what it answered."""

    def __init__(
        self, name: str, base: str, path: str, post: dict[str, Any], hangup: Callable[[str], str], key: str
    ) -> None:
        self.name = name
        self.base = base
        self.url = base + path
        self.post = post
        self.hangup_url = hangup
        self.auth = {"Authorization": f"Bearer {key}"}
        self.times: list[float] = []

    async def once(self, client: httpx.AsyncClient) -> tuple[float, str]:
        start = time.perf_counter()
        answer = await client.post(self.url, **self.post)
        elapsed = (time.perf_counter() - start) * 1000
        if answer.status_code != 201:
            raise RuntimeError(f"{self.name}: HTTP {answer.status_code}: {answer.text[:500]}")
        return elapsed, answer.headers["location"].rstrip("/").rsplit("/", 1)[-1]

    async def hang_up(self, client: httpx.AsyncClient, call_id: str) -> None:
        done = await client.post(self.hangup_url(call_id), headers=self.auth)
        if done.status_code not in (200, 204):
            raise RuntimeError(f"{self.name} hangup: HTTP {done.status_code}: {done.text[:500]}")


@contextlib.contextmanager
def process(target: Callable[..., None], *args: Any) -> Iterator[tuple[int, int]]:
    """Run ``target`` in a fresh (spawned) process; yields the port it serves on and its pid."""
    context = multiprocessing.get_context("spawn")
    ports = context.Queue()
    child = context.Process(target=target, args=(ports, *args), daemon=True)
    child.start()
    try:
        yield int(ports.get(timeout=120)), int(child.pid or 0)
    finally:
        child.terminate()
        child.join(20)
        if child.is_alive():
            child.kill()
            child.join()


async def wait_ready(url: str, headers: dict[str, str] | None = None) -> None:
    async with httpx.AsyncClient(headers=headers) as http:
        for _ in range(600):
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(url, timeout=5)).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not become ready")


async def make_user(database_url: str) -> str:
    """A user and its API key, straight in the database (migrated first, as the gateway will find it)."""
    from voxgate.adapters.sql import AccountStore, Database

    db = Database(database_url)
    try:
        await db.migrate()
        accounts = AccountStore(db)
        await accounts.create_user("bench")
        _, key = await accounts.create_api_key("bench")
        return key
    finally:
        await db.aclose()


async def make_offer() -> tuple[Any, str]:
    from aiortc import RTCConfiguration, RTCPeerConnection

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.createDataChannel("oai-events")
    pc.addTransceiver("audio", direction="sendrecv")
    await pc.setLocalDescription(await pc.createOffer())
    return pc, str(pc.localDescription.sdp)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def measure(
    args: argparse.Namespace, direct: Contender, relay: Contender, offer: list[str], fresh: bool
) -> tuple[list[float], list[float]]:
    """Warm-up, then ``args.rounds`` rounds alternating which contender goes first."""
    pcs: list[Any] = []
    times: dict[str, list[float]] = {direct.name: [], relay.name: []}
    keep = httpx.AsyncClient(timeout=30)
    try:
        for round_ in range(-args.warmup, args.rounds):
            if args.fresh_offers:
                pc, offer[0] = await make_offer()
                pcs.append(pc)
            order = [direct, relay] if round_ % 2 == 0 else [relay, direct]
            for contender in order:
                for key in ("content", "files"):
                    if key in contender.post:
                        contender.post[key] = _with_offer(contender.post[key], offer[0])
                if fresh:
                    async with httpx.AsyncClient(timeout=30) as once:
                        elapsed, call_id = await contender.once(once)
                else:
                    elapsed, call_id = await contender.once(keep)
                # The call lives a moment, as a real one would, so that the supervisor attaches its
                # sideband to the relayed call before the hangup (the same wait for both contenders).
                await asyncio.sleep(args.hold_ms / 1000)
                await contender.hang_up(keep, call_id)
                if round_ >= 0:
                    times[contender.name].append(elapsed)
                await asyncio.sleep(args.gap_ms / 1000)
            while len(pcs) > 1:
                await pcs.pop(0).close()
            if round_ == -1:  # warm-up over: the servers forget what they timed so far
                for contender in (direct, relay):
                    await keep.post(f"{contender.base}/__bench/reset")
    finally:
        await keep.aclose()
        for pc in pcs:
            await pc.close()
    return times[direct.name], times[relay.name]


def _with_offer(body: Any, sdp: str) -> Any:
    if isinstance(body, str):
        return sdp
    return {**body, "sdp": (None, sdp)}


def table(title: str, direct: list[float], relay: list[float]) -> float:
    print(f"\n{title} ({len(direct)} rounds each, ms)")
    print(f"  {'':<22}{'p50':>8}{'p90':>8}{'mean':>8}{'min':>8}{'max':>8}")
    for name, values in (("direct (engine)", direct), ("relay (voxgate)", relay)):
        print(
            f"  {name:<22}{statistics.median(values):>8.2f}{percentile(values, 0.9):>8.2f}"
            f"{statistics.fmean(values):>8.2f}{min(values):>8.2f}{max(values):>8.2f}"
        )
    added = statistics.median(relay) - statistics.median(direct)
    paired = statistics.median(r - d for r, d in zip(relay, direct, strict=True))
    ratio = statistics.median(relay) / statistics.median(direct)
    verdict = "PASS" if added <= GOAL_MS else "FAIL"
    print(f"  added by the relay: p50 {added:+.2f} ms (median of the rounds' differences {paired:+.2f} ms)")
    print(f"  relay / direct at p50: {ratio:.2f}")
    print(f"  goal: the relay adds ≤ {GOAL_MS:.0f} ms at p50: {verdict}")
    return added


def breakdown(
    client_direct: list[float],
    client_relay: list[float],
    engine: list[dict[str, Any]],
    gateway: list[dict[str, Any]],
) -> None:
    """Where the relay's time goes, from both servers' own timings (medians, ms)."""
    engine_direct = [r["ms"] for r in engine if r["sender"] == "client"]
    engine_relayed = [r["ms"] for r in engine if r["sender"] == "sdk"]
    gateway_total = [r["ms"] for r in gateway]
    if not (len(engine_direct) == len(engine_relayed) == len(gateway_total) == len(client_relay)):
        print("\n(server timings incomplete: no breakdown)")
        return
    steps: list[dict[str, float]] = []
    for request in gateway:
        sums: dict[str, float] = {}
        for name, ms in request["steps"]:
            sums[name] = sums.get(name, 0.0) + ms
        steps.append(sums)

    def med(values: list[float]) -> float:
        return statistics.median(values) if values else float("nan")

    def step(name: str) -> list[float]:
        return [s.get(name, 0.0) for s in steps]

    create = step("upstream.create_call")
    print("\nwhere the time goes (medians of the rounds, ms)")
    print(f"  direct: client sees {med(client_direct):.2f} = engine's own {med(engine_direct):.2f}")
    hop_direct = [c - e for c, e in zip(client_direct, engine_direct, strict=True)]
    print(f"          + HTTP hop client ↔ engine {med(hop_direct):.2f}")
    print(f"  relay:  client sees {med(client_relay):.2f}")
    hop_relay = [c - g for c, g in zip(client_relay, gateway_total, strict=True)]
    print(f"    HTTP hop client ↔ voxgate                  {med(hop_relay):>7.2f}")
    print(f"    voxgate's handling (ASGI in → answer out)  {med(gateway_total):>7.2f}")
    if any(create):
        outside = [
            g - sum(s.get(n, 0.0) for n, d in STEPS if d == 0)
            for g, s in zip(gateway_total, steps, strict=True)
        ]
        print(f"      {'routing, middleware, response':<38}{med(outside):>7.2f}")
        for name, depth in STEPS:
            print(f"      {'  ' * depth + name:<38}{med(step(name)):>7.2f}")
            if name == "upstream.create_call":
                sdk = [c - e for c, e in zip(create, engine_relayed, strict=True)]
                print(f"      {'  ' * 3 + 'SDK + HTTP hop voxgate ↔ engine':<38}{med(sdk):>7.2f}")
                print(f"      {'  ' * 3 + 'engine own':<38}{med(engine_relayed):>7.2f}")
    else:
        print(f"      engine's own (relayed offer)             {med(engine_relayed):>7.2f}")
    added_engine = [r - d for r, d in zip(engine_relayed, engine_direct, strict=True)]
    print(f"  the engine's own time, relayed − direct: {med(added_engine):+.2f}")


def print_profile(path: str, top: int, rounds: int) -> None:
    """Where voxgate's event-loop thread spent its time over the measured rounds, per round.

    Wall time per function itself (``tottime``); the loop's idle wait is ``poll`` of ``select.epoll``.
    The SQLite calls run in aiosqlite's own thread, which the profile does not see: the loop waits for
    them in ``poll``. Coroutines count once per resumption, so their call counts run high.
    """
    stats = pstats.Stats(path)
    entries: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in entries.values())
    print(f"  the loop's thread, profiled: {total * 1000 / rounds:.2f} ms per round (both calls, their")
    print("  hangups and pauses included)")
    print(f"  {'ms/round':>9}{'calls/round':>12}  function")
    for (filename, line, function), entry in sorted(entries.items(), key=lambda e: e[1][2], reverse=True)[
        :top
    ]:
        where = f" ({Path(filename).parent.name}/{Path(filename).name}:{line})" if line else ""
        print(f"  {entry[2] * 1000 / rounds:>9.3f}{entry[1] / rounds:>12.1f}  {function}{where}")


async def run(args: argparse.Namespace, folder: Path) -> None:
    from voxgate.settings import Settings
    from voxgate.web.services import policy_from_settings

    database_url = f"sqlite+aiosqlite:///{folder / 'voxgate.db'}"
    dropdb: Callable[[], Awaitable[None]] | None = None
    prefix = "voxgate-bench-" + secrets.token_hex(4)
    if args.postgres:
        import asyncpg

        name = "voxgate_bench_" + secrets.token_hex(4)
        admin = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()

        async def dropdb() -> None:
            admin = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()

        database_url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}".replace(
            "postgresql://", "postgresql+asyncpg://"
        )
    record = not args.bare
    try:
        with process(engine_process, record) as (engine_port, engine_pid):
            engine = f"http://127.0.0.1:{engine_port}"
            await wait_ready(f"{engine}/v1/models", {"Authorization": f"Bearer {KEY}"})
            key = await make_user(database_url)
            settings: dict[str, Any] = {
                "OPENAI_API_KEY": KEY,
                "upstream_url": f"{engine}/v1",
                "console_mode": "relay",
                "data_dir": str(folder),
                "database_url": database_url,
                "redis_url": REDIS_URL if args.redis else None,
                "redis_prefix": prefix,
                "log_level": "warning",
                "limits": {"calls_per_user": "1000000/minute"},
            }
            serving = process(gateway_process, settings, record, args.profile is not None)
            with serving as (gateway_port, gateway_pid):
                gateway = f"http://127.0.0.1:{gateway_port}"
                await wait_ready(f"{gateway}/readyz")
                # The pids, for a sampling profiler (py-spy) to attach to.
                print(f"pids: engine {engine_pid}, voxgate {gateway_pid}", flush=True)
                policy = policy_from_settings(Settings(_env_file=None))
                await bench(args, engine, gateway, key, policy, folder)
    finally:
        if dropdb is not None:
            await dropdb()
        if args.redis:
            from redis.asyncio import Redis

            redis = Redis.from_url(REDIS_URL)
            async for name in redis.scan_iter(f"{prefix}*"):
                await redis.delete(name)
            await redis.aclose()


async def bench(
    args: argparse.Namespace, engine: str, gateway: str, key: str, policy: Any, folder: Path
) -> None:
    pc, sdp = await make_offer()
    offer = [sdp]
    sdp_headers = {"Content-Type": "application/sdp"}
    if args.direct_body == "multipart":
        session = json.dumps(policy.build(None))
        direct_post: dict[str, Any] = {"files": {"sdp": (None, sdp), "session": (None, session)}}
    else:
        direct_post = {"content": sdp, "headers": sdp_headers}
    direct = Contender(
        "direct",
        engine,
        ENGINE_CALLS,
        {**direct_post, "headers": {**direct_post.get("headers", {}), "Authorization": f"Bearer {KEY}"}},
        lambda call: f"{engine}{ENGINE_CALLS}/{call}/hangup",
        KEY,
    )
    relay = Contender(
        "relay",
        gateway,
        RELAY_CALLS,
        {"content": sdp, "headers": {**sdp_headers, "Authorization": f"Bearer {key}"}},
        lambda call: f"{gateway}/api/calls/{call}/hangup",
        key,
    )
    store = "PostgreSQL" if args.postgres else f"SQLite in {folder}"
    print(
        f"voxgate relay vs the engine answering an SDP offer directly: {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.1f}; voxgate on {store}{' + Redis' if args.redis else ''}; "
        f"direct body {args.direct_body}; {'fresh offers' if args.fresh_offers else 'one offer text'}; "
        f"gap {args.gap_ms:g} ms"
    )
    if args.profile is not None:
        print("(--profile: voxgate runs its relay requests under cProfile; its times are inflated)")
    gc.collect()
    gc.freeze()
    modes = ["keepalive", "fresh"] if args.connections == "both" else [args.connections]
    async with httpx.AsyncClient(timeout=10) as http:
        for mode in modes:
            for server in (engine, gateway):
                await http.post(f"{server}/__bench/reset")
            client_direct, client_relay = await measure(args, direct, relay, offer, mode == "fresh")
            what = (
                "one keep-alive connection per server"
                if mode == "keepalive"
                else "a new connection per request"
            )
            table(f"offer → answer, sequential, {what}", client_direct, client_relay)
            if not args.bare:
                engine_stats = (await http.get(f"{engine}/__bench/stats")).json()
                gateway_stats = (await http.get(f"{gateway}/__bench/stats")).json()
                breakdown(client_direct, client_relay, engine_stats["requests"], gateway_stats["requests"])
                sidebands = engine_stats["sidebands"]
                print(
                    f"  sidebands the engine accepted: {sidebands['attached']} for {len(client_relay)} "
                    f"relayed calls; refused: {sidebands['refused']} (attempts after the call had ended)"
                )
        if args.profile is not None:
            path = str(folder / "gateway.prof")
            await http.post(f"{gateway}/__bench/profile?{path}")
            print(f"\ncProfile of voxgate's relay requests (top {args.profile})")
            print_profile(path, args.profile, args.rounds)
    await pc.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60, help="measured rounds (each contender once)")
    parser.add_argument("--warmup", type=int, default=5, help="rounds before measuring")
    parser.add_argument("--hold-ms", type=float, default=100.0, help="how long each call lives")
    parser.add_argument("--gap-ms", type=float, default=50.0, help="pause after each call's hangup")
    parser.add_argument("--connections", choices=["keepalive", "fresh", "both"], default="keepalive")
    parser.add_argument("--direct-body", choices=["sdp", "multipart"], default="sdp")
    parser.add_argument("--fresh-offers", action="store_true", help="a new peer connection each round")
    parser.add_argument("--data-dir", help="where voxgate's SQLite file goes (default: the temp folder)")
    parser.add_argument("--postgres", action="store_true", help="voxgate on a throwaway PostgreSQL database")
    parser.add_argument("--redis", action="store_true", help="voxgate's limits and leases in Redis")
    parser.add_argument("--profile", type=int, nargs="?", const=30, help="cProfile voxgate; print the top N")
    parser.add_argument("--bare", action="store_true", help="no timing inside the servers")
    args = parser.parse_args()
    args.rounds = max(1, min(args.rounds, 1000))
    # The servers read no VOXGATE_* variable of this shell: what they run with is all stated here.
    for name in [n for n in os.environ if n.startswith("VOXGATE_") or n == "OPENAI_API_KEY"]:
        del os.environ[name]
    loopback_only()
    with tempfile.TemporaryDirectory(prefix="bench-relay-", dir=args.data_dir) as tmp:
        asyncio.run(run(args, Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
