"""Benchmark the local engine end to end over WebRTC and print a table.

    .venv/bin/python bench/bench_engine.py [--turns 10] [--tts auto|piper|espeak] [--beam 5]
                                           [--asr-threads 2] [--window 10] [--sessions 1,2,4,6,8,10,12]
                                           [--skip a,b,c,d,e] [--cpu-sessions 2] [--cpu-rounds 2]

(a) reply latency: end of the user's speech (its last loud sample leaving the mic) → first reply audio
    received, median over ``--turns`` turns, with the server-side steps (VAD end of turn, ASR);
(b) barge-in: the user starts speaking during a reply → that reply's audio received going silent;
(c) capacity: N callers at once, each speaking a turn (a 3-4 s sentence) every 6-9 s: it hears the
    first 2-4 s of the reply, then the next turn cuts in. N is *held* when every caller's audio frames
    arrive without a gap over ``GAP_LIMIT_MS`` and every turn is answered within ``REPLY_LIMIT_MS``;
    the largest held N is reported.
(d) memory: the engine's RSS idle, after ``--memory-calls`` sequential calls (each connects, speaks a
    sentence, hears the reply start, hangs up) at 5 and at the end, and at rest after them; the last
    should be within 10 % of the one after 5 calls (no growth across calls).
(e) CPU per session: ``--cpu-sessions`` callers on this engine and on a second one whose outgoing audio
    aiortc encodes (48 kHz stereo, 96 kb/s, in its thread pool: the engine before it encoded its own),
    alternately: the engine's CPU seconds per session-second (its threads and its espeak-ng children),
    by kind of thread. Unlike capacity, this figure holds while other processes load the machine.

The engine runs in its own process, as ``voxgate engine`` does, with Silero VAD, Whisper tiny.en and the
echo responder; the aiortc callers (espeak-ng speech on a fake mic) run in this process. Received times
include aiortc's receive jitter buffer on both legs (4 packets = 80 ms each), as a browser's would.
Loopback only: both ICE agents are limited to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing
import os
import random
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' WebRTC kit

import aioice.ice
import httpx
from aiortc.jitterbuffer import JitterBuffer
from openai import AsyncOpenAI
from tests.engine.voice_kit import SENTENCES, SpeakingMic, TimedRtcClient, espeak, speech_edges

KEY = "sk-bench-engine-test-0123456789"  # a fake key for the local engine
GAP_LIMIT_MS = 100.0
REPLY_LIMIT_MS = 2000.0
SESSION = {"type": "realtime", "audio": {"input": {"transcription": {"model": "whisper-1"}}}}

rows: list[tuple[str, str, str]] = []


def row(part: str, metric: str, value: str) -> None:
    rows.append((part, metric, value))
    print(f"  {part}: {metric} = {value}", flush=True)


def loopback_only() -> None:
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


# ---- the engine, in its own process -------------------------------------------------------------


def serve(
    port: int, tts: str, beam: int, asr_threads: int, window: float, lag: Any, aiortc_opus: bool = False
) -> None:
    import logging
    import threading

    import uvicorn

    from voxgate.engine.config import EngineConfig
    from voxgate.engine.server.http import create_engine_app
    from voxgate.engine.speech.asr import WhisperRecognizer
    from voxgate.engine.speech.tts import create_synthesizer
    from voxgate.engine.speech.vad import SileroModel
    from voxgate.engine.voice.observer import voice_observer_factory

    logging.basicConfig(level=logging.WARNING)
    loopback_only()
    if aiortc_opus:  # the contender: aiortc encodes every frame (48 kHz stereo, 96 kb/s, in its pool)
        from voxgate.engine.rtc.playback import PlaybackTrack

        PlaybackTrack.encode_opus = lambda self: None  # type: ignore[method-assign]
    recognizer = WhisperRecognizer(
        cpu_threads=asr_threads, beam_size=beam, window_s=window if window < 30 else None
    )
    recognizer.warm_up()
    app = create_engine_app(
        # The bench is one key calling many times at once: lift the per-key caps it would hit.
        EngineConfig(api_keys=frozenset({KEY}), max_calls_per_key=64, max_calls=64, max_live_total=64),
        synthesizer=create_synthesizer(tts),
        observer_factory=voice_observer_factory(SileroModel().detector, recognizer),
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))

    async def probe() -> None:
        """The engine's event-loop lag: how late a 10 ms sleep wakes up (the worst since the last read).
        Once a second it also writes the names of its Python threads, for the CPU breakdown."""
        names = thread_names_file(os.getpid())
        ticks = 0
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.01)
            late = time.perf_counter() - start - 0.01
            if late > lag.value:
                lag.value = late
            ticks += 1
            if ticks % 100 == 1:
                named = {str(t.native_id): t.name for t in threading.enumerate()}
                names.write_text(json.dumps(named))

    async def run() -> None:
        task = asyncio.ensure_future(probe())
        try:
            await server.serve()
        finally:
            task.cancel()

    asyncio.run(run())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def machine_busy_seconds() -> float:
    """CPU seconds all processes have used (every core), from /proc/stat."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid`` and of its children it has waited for (espeak-ng runs as one per piece)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def thread_names_file(pid: int) -> Path:
    return Path(tempfile.gettempdir()) / f"bench-engine-threads-{pid}.json"


# What each kind of engine thread does: Python's thread names, written by the engine (see serve).
THREAD_KINDS = (
    ("MainThread", "loop"),  # asyncio: RTP/SRTP/RTCP, resampling, Silero VAD, events, pacing
    ("audio-decoder", "opus-dec"),  # aiortc: one Opus decoder thread per call
    ("asyncio_", "executor"),  # aiortc's Opus encoder, Whisper's feature extraction, TTS rendering
)


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds by kind of thread of ``pid``; threads without a Python name are native pools
    (CTranslate2's Whisper, onnxruntime); ``children`` are the synthesizer's processes."""
    try:
        names: dict[str, str] = json.loads(thread_names_file(pid).read_text())
    except (OSError, ValueError):
        names = {}
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended
        name = names.get(task.name, "")
        kinds = (k for prefix, k in THREAD_KINDS if name.startswith(prefix))
        kind = next(kinds, "other" if name else "native")
        out[kind] = out.get(kind, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    out["children"] = (int(fields[13]) + int(fields[14])) / tick
    return out


# ---- a caller -------------------------------------------------------------------------------------


CALLER_BUFFER = [4]  # packets each caller's aiortc receiver holds before decoding (--caller-buffer)


@dataclass
class Caller:
    base_url: str
    mic: SpeakingMic = field(default_factory=SpeakingMic)
    log: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    misses: int = 0

    def __post_init__(self) -> None:
        self.rtc = TimedRtcClient(mic=self.mic)
        self._pump: asyncio.Task[None] | None = None
        if CALLER_BUFFER[0] != 4:  # aiortc's own default is 4 (80 ms); a browser adapts, often lower
            for transceiver in self.rtc.pc.getTransceivers():
                receiver: Any = transceiver.receiver
                receiver._RTCRtpReceiver__jitter_buffer = JitterBuffer(capacity=16, prefetch=CALLER_BUFFER[0])

    async def connect(self) -> None:
        async with AsyncOpenAI(api_key=KEY, base_url=self.base_url, max_retries=0, timeout=20) as sdk:
            offer = await self.rtc.offer()
            raw = await sdk.realtime.calls.with_raw_response.create(sdp=offer, session=SESSION)  # type: ignore[arg-type]
            await self.rtc.connect(raw.http_response.text, within=20)
        self._pump = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        # Raw JSON, not the tests' strict check: the callers should cost the machine as little as possible.
        inbox = self.rtc._inbox  # the kit's data-channel queue
        while True:
            event = json.loads(await inbox.get())
            self.log.append((time.monotonic(), event))

    def first_event(self, event_type: str, after: float) -> float | None:
        return next((t for t, e in self.log if t > after and e["type"] == event_type), None)

    async def say(self, text: str) -> tuple[float, float]:
        """Speak ``text``; returns the wall times of its first and last loud samples leaving the mic."""
        speech = espeak(text)
        first, last = speech_edges(speech)
        utterance = self.mic.say(speech)
        # A call the engine dropped no longer pulls the mic: give up rather than wait forever.
        async with asyncio.timeout(len(speech) / 48 / 1000 + 5.0):
            while not utterance.done:  # noqa: ASYNC110 - the mic track fills it in as it plays
                await asyncio.sleep(0.02)
        total = len(speech) / 48
        return utterance.ended_at - (total - first) / 1000, utterance.ended_at - (total - last) / 1000

    async def reply_after(self, moment: float, within: float = 5.0) -> float | None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            heard = self.rtc.first_sound_after(moment)
            if heard is not None:
                return heard
            await asyncio.sleep(0.01)
        return None

    def max_gap_ms(self, since: float) -> float:
        times = [t for t, _ in self.rtc.frames if t >= since]
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0) * 1000

    async def close(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
        await self.rtc.close()


def ms(values: list[float]) -> str:
    if not values:
        return "-"
    low, mid, high = min(values) * 1000, statistics.median(values) * 1000, max(values) * 1000
    return f"{mid:.0f} (min {low:.0f}, max {high:.0f}, n={len(values)})"


# ---- (a) latency, (b) barge-in ---------------------------------------------------------------------


async def bench_latency(base_url: str, turns: int) -> None:
    caller = Caller(base_url)
    await caller.connect()
    total, vad, asr, speak = [], [], [], []
    try:
        await asyncio.sleep(1.0)
        for turn in range(turns):
            _, end = await caller.say(SENTENCES[turn % len(SENTENCES)])
            heard = await caller.reply_after(end)
            if heard is None:
                caller.misses += 1
                continue
            total.append(heard - end)
            stopped = caller.first_event("input_audio_buffer.speech_stopped", end - 1)
            completed = caller.first_event("conversation.item.input_audio_transcription.completed", end - 1)
            if stopped and completed:
                vad.append(stopped - end)
                asr.append(completed - stopped)
                speak.append(heard - completed)
            await asyncio.sleep(0.3)
            caller.rtc.send({"type": "response.cancel"})
            caller.rtc.send({"type": "output_audio_buffer.clear"})
            await asyncio.sleep(0.8)
    finally:
        await caller.close()
    row("(a) latency", "speech end → first reply audio, ms median", ms(total))
    row("(a) latency", "  of which: speech end → speech_stopped", ms(vad))
    row("(a) latency", "  speech_stopped → transcript (ASR)", ms(asr))
    row("(a) latency", "  transcript → reply audio heard", ms(speak))
    row("(a) latency", "turns without a reply", str(caller.misses))


async def bench_barge_in(base_url: str, trials: int) -> None:
    caller = Caller(base_url)
    await caller.connect()
    stops, clears = [], []
    try:
        await asyncio.sleep(1.0)
        _, end = await caller.say(SENTENCES[0])
        for trial in range(trials):
            heard = await caller.reply_after(end)
            if heard is None:
                break
            await asyncio.sleep(1.0)
            start, end = await caller.say(SENTENCES[(trial + 1) % len(SENTENCES)])
            window = [t for t, level in caller.rtc.frames if start < t < start + 1.5 and level > 50]
            if window:
                stops.append(window[-1] - start)
            cleared = caller.first_event("output_audio_buffer.cleared", start - 0.5)
            if cleared:
                clears.append(cleared - start)
    finally:
        await caller.close()
    row("(b) barge-in", "speech start → reply silent (received), ms", ms(stops))
    row("(b) barge-in", "speech start → output_audio_buffer.cleared, ms", ms(clears))


# ---- (c) capacity ------------------------------------------------------------------------------------


async def run_callers(
    base_url: str, count: int, seconds: float, pid: int, lag: Any
) -> tuple[bool, str, dict[str, float]]:
    """N callers talking for ``seconds``: held or not, the details, and the engine's CPU seconds per
    session-second (``total`` and by kind of thread)."""
    callers = [Caller(base_url) for _ in range(count)]
    for caller in callers:
        await caller.connect()
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)
    since = time.monotonic()
    cpu0, mine0, all0 = cpu_seconds(pid), time.process_time(), machine_busy_seconds()
    threads0 = thread_cpu(pid)
    lag.value = 0.0
    my_lag = [0.0]

    async def probe() -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.01)
            my_lag[0] = max(my_lag[0], time.perf_counter() - start - 0.01)

    prober = asyncio.ensure_future(probe())

    async def talk(caller: Caller, index: int) -> None:
        rng = random.Random(index)
        await asyncio.sleep(rng.uniform(0, 2))
        while time.monotonic() - since < seconds:
            try:
                _, end = await caller.say(SENTENCES[rng.randrange(len(SENTENCES))])
            except TimeoutError:  # the call was lost: a miss, and this caller stops
                caller.misses += 1
                return
            heard = await caller.reply_after(end)
            if heard is None:
                caller.misses += 1
            else:
                caller.latencies.append(heard - end)
            await asyncio.sleep(rng.uniform(2.0, 4.0))  # hear part of the reply, then cut in

    try:
        await asyncio.gather(*(talk(c, i) for i, c in enumerate(callers)))
        elapsed = time.monotonic() - since
        server_cpu = (cpu_seconds(pid) - cpu0) / elapsed * 100
        threads1 = thread_cpu(pid)
        # CPU seconds per session-second: meaningful however busy the rest of the machine is.
        per_session = {k: (v - threads0.get(k, 0.0)) / elapsed / count for k, v in threads1.items()}
        per_session["total"] = server_cpu / 100 / count
        client_cpu = (time.process_time() - mine0) / elapsed * 100
        other_cpu = (machine_busy_seconds() - all0) / elapsed * 100 - server_cpu - client_cpu
        prober.cancel()
        gaps = [c.max_gap_ms(since) for c in callers]
        latencies = [x for c in callers for x in c.latencies]
        misses = sum(c.misses for c in callers)
        held = max(gaps) <= GAP_LIMIT_MS and misses == 0 and max(latencies) * 1000 <= REPLY_LIMIT_MS
        detail = (
            f"reply {ms(latencies)}, misses {misses}, max frame gap {max(gaps):.0f} ms, "
            f"loop lag max engine {lag.value * 1000:.0f} ms callers {my_lag[0] * 1000:.0f} ms, "
            f"CPU engine {server_cpu:.0f}% callers {client_cpu:.0f}% "
            f"other processes {max(0.0, other_cpu):.0f}%; engine CPU-s per session-s "
            f"{server_cpu / 100 / count:.3f} ({breakdown(per_session)})"
        )
        return held, detail, per_session
    finally:
        await asyncio.gather(*(c.close() for c in callers), return_exceptions=True)


async def bench_capacity(base_url: str, counts: list[int], seconds: float, pid: int, lag: Any) -> None:
    best = 0
    for count in counts:
        held, detail, _ = await run_callers(base_url, count, seconds, pid, lag)
        row("(c) capacity", f"N={count} {'held' if held else 'NOT held'}", detail)
        if not held:  # one more try: the machine is shared, a stall elsewhere can sink a run
            await asyncio.sleep(2.0)
            held, detail, _ = await run_callers(base_url, count, seconds, pid, lag)
            row("(c) capacity", f"N={count} retry {'held' if held else 'NOT held'}", detail)
        if not held:
            break
        best = count
        await asyncio.sleep(2.0)
    row("(c) capacity", "largest N held", str(best))


def breakdown(per_session: dict[str, float]) -> str:
    parts = sorted(((k, v) for k, v in per_session.items() if k != "total"), key=lambda kv: -kv[1])
    return ", ".join(f"{k} {v:.3f}" for k, v in parts)


# ---- (e) CPU per session, the engine's own Opus encoder against aiortc's ----------------------------


@dataclass
class Engine:
    process: Any
    base_url: str
    lag: Any


def start_engine(args: argparse.Namespace, aiortc_opus: bool) -> Engine:
    context = multiprocessing.get_context("spawn")
    lag = context.Value("d", 0.0)
    port = free_port()
    process = context.Process(
        target=serve,
        args=(port, args.tts, args.beam, args.asr_threads, args.window, lag, aiortc_opus),
        daemon=True,
    )
    process.start()
    return Engine(process, f"http://127.0.0.1:{port}/v1", lag)


async def wait_up(engine: Engine) -> None:
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {KEY}"}) as http:
        for _ in range(300):
            try:
                if (await http.get(f"{engine.base_url}/models")).is_success:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)


async def bench_cpu(ours: Engine, args: argparse.Namespace) -> None:
    """The same N callers on this engine and on one whose audio aiortc encodes, alternately, ``rounds``
    times: engine CPU seconds per session-second, a figure that holds however busy the machine is."""
    theirs = start_engine(args, aiortc_opus=True)
    try:
        await wait_up(theirs)
        totals: dict[str, list[float]] = {"own Opus": [], "aiortc Opus": []}
        for round_ in range(args.cpu_rounds):
            for name, engine in (("own Opus", ours), ("aiortc Opus", theirs)):
                held, _, cpu = await run_callers(
                    engine.base_url, args.cpu_sessions, args.cpu_seconds, engine.process.pid, engine.lag
                )
                totals[name].append(cpu["total"])
                state = "held" if held else "NOT held: the machine is too busy for a fair figure"
                figure = f"{cpu['total']:.3f} ({breakdown(cpu)}); {state}"
                row("(e) CPU", f"round {round_ + 1} {name}", figure)
                await asyncio.sleep(1.0)
        ours_cpu, theirs_cpu = (statistics.median(v) for v in totals.values())
        row(
            "(e) CPU",
            f"CPU-s per session-s, median, N={args.cpu_sessions}",
            f"own Opus {ours_cpu:.3f}, aiortc Opus {theirs_cpu:.3f}, ratio {ours_cpu / theirs_cpu:.2f}",
        )
    finally:
        theirs.process.terminate()
        theirs.process.join(5)


# ---- (d) memory ------------------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def settled_rss(pid: int) -> float:
    """The engine's RSS once its calls have wound down (their teardown finishes in the background)."""
    await asyncio.sleep(2.0)
    return rss_mb(pid)


async def bench_memory(base_url: str, calls: int, pid: int) -> None:
    idle = await settled_rss(pid)
    row("(d) memory", "engine RSS idle, MB", f"{idle:.0f}")
    after_5 = 0.0
    for index in range(calls):
        caller = Caller(base_url)
        try:
            await caller.connect()
            await asyncio.sleep(0.3)
            _, end = await caller.say(SENTENCES[index % len(SENTENCES)])
            if await caller.reply_after(end) is None:
                caller.misses += 1
            await asyncio.sleep(0.5)
        finally:
            await caller.close()
        if index + 1 == 5:
            after_5 = await settled_rss(pid)
            row("(d) memory", "engine RSS after 5 sequential calls, MB", f"{after_5:.0f}")
    after_all = await settled_rss(pid)
    row("(d) memory", f"engine RSS after {calls} sequential calls, MB", f"{after_all:.0f}")
    change = (after_all - after_5) / after_5 * 100 if after_5 else 0.0
    row("(d) memory", f"after {calls} vs after 5", f"{change:+.1f} % (goal: within 10 %)")
    await asyncio.sleep(5.0)
    row("(d) memory", "engine RSS at rest 7 s later, MB", f"{rss_mb(pid):.0f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--barge-ins", type=int, default=5)
    parser.add_argument("--tts", default="auto", choices=["auto", "piper", "espeak"])
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--asr-threads", type=int, default=1)
    parser.add_argument(
        "--window", type=float, default=10.0, help="Whisper window for short turns, s (30: off)"
    )
    parser.add_argument("--sessions", default="1,2,4,6,8,10,12")
    parser.add_argument("--seconds", type=float, default=25.0, help="length of each capacity run")
    parser.add_argument("--skip", default="", help="parts to skip, e.g. 'a,b'")
    parser.add_argument("--memory-calls", type=int, default=50, help="sequential calls of part (d)")
    parser.add_argument(
        "--caller-buffer", type=int, default=4, help="packets the callers buffer before decoding (aiortc: 4)"
    )
    parser.add_argument(
        "--aiortc-opus", action="store_true", help="let aiortc encode the engine's audio (the old way)"
    )
    parser.add_argument("--cpu-sessions", type=int, default=2, help="callers of part (e)")
    parser.add_argument("--cpu-seconds", type=float, default=15.0, help="length of each run of part (e)")
    parser.add_argument("--cpu-rounds", type=int, default=2, help="alternating runs of part (e)")
    args = parser.parse_args()
    CALLER_BUFFER[0] = args.caller_buffer
    loopback_only()
    engine = start_engine(args, args.aiortc_opus)
    server, base_url, lag = engine.process, engine.base_url, engine.lag
    try:
        await wait_up(engine)
        for text in SENTENCES:
            espeak(text)
        print(
            f"engine: {os.cpu_count()} cores, tts={args.tts}, whisper tiny.en beam={args.beam} "
            f"threads={args.asr_threads} window={args.window:g} s; "
            f"callers buffer {args.caller_buffer} packets",
            flush=True,
        )
        if "a" not in args.skip:
            await bench_latency(base_url, args.turns)
        if "b" not in args.skip:
            await bench_barge_in(base_url, args.barge_ins)
        if "c" not in args.skip:
            assert server.pid is not None
            counts = [int(n) for n in args.sessions.split(",")]
            await bench_capacity(base_url, counts, args.seconds, server.pid, lag)
        if "d" not in args.skip:
            assert server.pid is not None
            await bench_memory(base_url, args.memory_calls, server.pid)
        if "e" not in args.skip:
            await bench_cpu(engine, args)
    finally:
        server.terminate()
        server.join(5)
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    print()
    print(f"{'part':<{width[0]}}  {'metric':<{width[1]}}  value")
    print(f"{'-' * width[0]}  {'-' * width[1]}  {'-' * width[2]}")
    for part, metric, value in rows:
        print(f"{part:<{width[0]}}  {metric:<{width[1]}}  {value}")


if __name__ == "__main__":
    asyncio.run(main())
