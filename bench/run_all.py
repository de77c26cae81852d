"""Run every benchmark, one after the other, each bounded in time, and write bench/results/.

    .venv/bin/python bench/run_all.py [--full] [--only http,relay,...] [--before-src DIR]

Quick mode (the default, what ``make bench`` runs) takes about 15 minutes on 2 cores; ``--full`` runs
each bench with its own defaults (about 30 minutes). Each bench's printed output goes to
``bench/results/<name>.json`` (command, seconds, exit status, output); ``bench_http`` also writes its
figures to ``bench/results/http.json``. ``bench/report.py`` then writes ``bench/results/report.md``.
A bench that fails or overruns is recorded as such and the others still run. ``--before-src`` gives
``bench_http`` an earlier voxgate to measure beside the current one (``git archive <commit> src``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

# name: (script, quick arguments, full arguments, time bound in seconds)
BENCHES: dict[str, tuple[str, list[str], list[str], int]] = {
    "http": ("bench_http.py", ["--quick"], [], 900),
    # Replicas' setup: PostgreSQL + Redis, where voxgate serve starts one worker per core.
    "http-shared": (
        "bench_http.py",
        ["--quick", "--delays", "0", "--out", str(RESULTS / "http-shared.json"), "--shared"],
        ["--out", str(RESULTS / "http-shared.json"), "--shared"],
        600,
    ),
    "relay": ("bench_relay.py", ["--rounds", "40", "--warmup", "3"], [], 300),
    "console": ("bench_console.py", ["--runs", "3"], [], 300),
    "engine": (
        "bench_engine.py",
        [
            "--turns",
            "3",
            "--barge-ins",
            "2",
            "--sessions",
            "1,2,4",
            "--seconds",
            "10",
            "--memory-calls",
            "10",
        ],
        [],
        900,
    ),
    "speech": ("bench_speech.py", ["--repeats", "1"], [], 300),
}


def run(name: str, full: bool, extra: list[str]) -> dict[str, object]:
    script, quick_args, full_args, bound = BENCHES[name]
    command = [sys.executable, str(HERE / script), *(full_args if full else quick_args), *extra]
    started = time.monotonic()
    print(f"== {name}: {' '.join(command[1:])}", flush=True)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=bound * (3 if full else 1))
        status, output = (
            done.returncode,
            done.stdout + (f"\n[stderr]\n{done.stderr[-4000:]}" if done.returncode else ""),
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        status, output = -1, out + f"\n[stopped after {exc.timeout:.0f} s]"
    seconds = round(time.monotonic() - started, 1)
    print(output[-3000:], flush=True)
    return {
        "bench": name,
        "command": " ".join(["python", *[Path(c).name if c.endswith(".py") else c for c in command[1:]]]),
        "mode": "full" if full else "quick",
        "seconds": seconds,
        "exit": status,
        "output": output,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--full", action="store_true", help="each bench with its own defaults")
    parser.add_argument("--only", default=",".join(BENCHES), help="comma-separated: " + ",".join(BENCHES))
    parser.add_argument("--before-src", help="an earlier voxgate's src folder for bench_http to run beside")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    for name in args.only.split(","):
        extra = ["--before-src", args.before_src] if name.startswith("http") and args.before_src else []
        record = run(name, args.full, extra)
        (RESULTS / f"{name}-run.json").write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
