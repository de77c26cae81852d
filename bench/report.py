"""bench/results/*.json → bench/results/report.md, with the goals beside the figures; and the README's table.

    .venv/bin/python bench/report.py [--before bench/results/http-before.json] [--readme]

``--before``: a ``bench_http`` run of an earlier voxgate (``bench_http.py --voxgate-src``), shown beside
the current one. ``--readme``: also replace the table between ``<!-- bench:begin -->`` and
``<!-- bench:end -->`` in README.md with the headline figures of this report.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
README = HERE.parent / "README.md"
PATHS = {"mint": "POST /api/realtime-token", "relay": "POST /api/realtime/calls"}


def _load(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


def _mark(ok: bool) -> str:
    return "met" if ok else "**not met**"


def headline(http: dict[str, Any]) -> list[dict[str, Any]]:
    """Per path and stub delay: the figures the issue's goals are about."""
    rows = []
    for delay_key, per_path in http["results"].items():
        delay = int(delay_key.removeprefix("delay"))
        for path in PATHS:
            one, many = per_path.get(f"{path}/c1"), per_path.get(f"{path}/c64")
            if one is None or many is None:
                continue
            rows.append(
                {
                    "path": path,
                    "delay": delay,
                    "ratio": many["voxgate"]["rps"] / max(1e-9, many["express"]["rps"]),
                    "voxgate_rps": many["voxgate"]["rps"],
                    "express_rps": many["express"]["rps"],
                    "added_p50": one["voxgate"]["p50_ms"] - one["direct"]["p50_ms"],
                    "express_added_p50": one["express"]["p50_ms"] - one["direct"]["p50_ms"],
                    "p99_voxgate": many["voxgate"]["p99_ms"],
                    "p99_express": many["express"]["p99_ms"],
                    "errors": one["voxgate"]["errors"] + many["voxgate"]["errors"],
                    "cpu_voxgate": many["voxgate"]["cpu_ms_per_request"],
                    "cpu_express": many["express"]["cpu_ms_per_request"],
                    "rss_idle": many["voxgate"].get("rss_idle_mb"),
                    "rss_load": many["voxgate"].get("rss_max_mb"),
                }
            )
    return rows


def goals_table(rows: list[dict[str, Any]], goals: dict[str, float]) -> list[str]:
    lines = [
        "| path | stub | req/s at 64 conn. vs Express (goal ≥ 1.0×) | added p50 at 1 conn. (goal ≤ 1 ms) "
        "| p99 at 64 conn. vs Express's | errors (goal 0) | CPU per request voxgate / Express |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {PATHS[r['path']]} | {r['delay']} ms "
            f"| {r['voxgate_rps']:.0f} vs {r['express_rps']:.0f} = **{r['ratio']:.2f}×** "
            f"({_mark(r['ratio'] >= goals['throughput_vs_express'])}) "
            f"| **{r['added_p50']:+.2f} ms** (Express {r['express_added_p50']:+.2f}) "
            f"({_mark(r['added_p50'] <= goals['added_p50_ms_at_1'])}) "
            f"| {r['p99_voxgate']:.1f} vs {r['p99_express']:.1f} ms "
            f"({_mark(r['p99_voxgate'] <= r['p99_express'])}) "
            f"| {r['errors']} ({_mark(r['errors'] == 0)}) "
            f"| {r['cpu_voxgate']:.2f} / {r['cpu_express']:.2f} ms |"
        )
    return lines


def detail_table(http: dict[str, Any]) -> list[str]:
    lines = [
        "| stub | path | conn. | contender | req/s | p50 ms | p90 ms | p99 ms | errors | CPU ms/req |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for delay_key, per_path in http["results"].items():
        for key, contenders in per_path.items():
            path, conns = key.split("/c")
            for name, f in contenders.items():
                lines.append(
                    f"| {delay_key.removeprefix('delay')} ms | {path} | {conns} | {name} | {f['rps']:.0f} "
                    f"| {f['p50_ms']:.2f} | {f['p90_ms']:.2f} | {f['p99_ms']:.2f} | {f['errors']} "
                    f"| {f['cpu_ms_per_request']:.2f} |"
                )
    return lines


def before_after(http: dict[str, Any]) -> list[str]:
    """The earlier voxgate (``--before-src``) beside the current one, from the same alternating rounds."""
    lines = [
        "| stub | path | conn. | req/s before → after | p50 ms before → after | p99 ms before → after "
        "| CPU ms/req before → after |",
        "|---|---|---|---|---|---|---|",
    ]
    for delay_key, per_path in http["results"].items():
        for key, contenders in per_path.items():
            if "before" not in contenders:
                continue
            path, conns = key.split("/c")
            b, a = contenders["before"], contenders["voxgate"]
            stub = delay_key.removeprefix("delay")
            lines.append(
                f"| {stub} ms | {path} | {conns} | {b['rps']:.0f} → {a['rps']:.0f} "
                f"| {b['p50_ms']:.2f} → {a['p50_ms']:.2f} | {b['p99_ms']:.1f} → {a['p99_ms']:.1f} "
                f"| {b['cpu_ms_per_request']:.2f} → {a['cpu_ms_per_request']:.2f} |"
            )
    return lines if len(lines) > 2 else []


def relay_goal(run: dict[str, Any] | None) -> str:
    """Issue #8's figure from bench_relay's output: the relay's added p50 over the upstream's own."""
    if run is None:
        return "bench_relay has not run."
    match = re.search(r"added by the relay: p50 ([+-][\d.]+) ms", run["output"])
    if match is None:
        return f"bench_relay did not report its figure (exit {run['exit']})."
    added = float(match.group(1))
    goal = _mark(added <= 5)
    return f"The relay adds **{added:+.2f} ms** at p50 to the upstream's own answer (goal ≤ 5 ms: {goal})."


def report(http: dict[str, Any] | None, before: dict[str, Any] | None) -> str:
    out = ["# voxgate benchmarks", ""]
    out.append(
        f"Written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `make bench` (bench/report.py)."
    )
    out.append("")
    if http is not None:
        m = http["machine"]
        out += [
            "## Machine",
            "",
            f"{m['cpus']} CPUs ({m['cpu']}), Python {m['python']}, node {m['node']}, load average "
            f"{m['load_before']:.2f} when the run started; loopback only. Settings: {http['settings']}.",
            "",
            "## Minting and relaying vs Express and vs the upstream directly (bench_http.py)",
            "",
            "voxgate as it starts by default (SQLite, authentication, rate limits and the audit log on) "
            "and the Express token server from OpenAI's guide (one process), both against the same node "
            "stub of the upstream, under the same wrk, rounds alternating; *added p50* is over calling "
            "the stub directly.",
            "",
            *goals_table(headline(http), http["goals"]),
            "",
        ]
        side_by_side = before_after(http)
        if side_by_side:
            out += [
                "### Before and after, side by side",
                "",
                "The voxgate this work started from (`--before-src`) as one more contender in the same "
                "alternating rounds:",
                "",
                *side_by_side,
                "",
            ]
        if before is not None:
            out += ["### An earlier run of the bench (`--before`)", ""]
            out += [*goals_table(headline(before), before["goals"]), ""]
        out += ["### Every figure (medians over the rounds)", "", *detail_table(http), ""]
    shared = _load(RESULTS / "http-shared.json")
    if shared is not None:
        out += [
            "## The same on PostgreSQL + Redis (bench_http.py --shared)",
            "",
            "voxgate as replicas run it: PostgreSQL and Redis on 127.0.0.1, where `voxgate serve` starts one "
            "worker per core; Express as before (one process).",
            "",
            *goals_table(headline(shared), shared["goals"]),
            "",
            *before_after(shared),
            "",
        ]
    relay = _load(RESULTS / "relay-run.json")
    out += ["## Issue #8: the relay's own overhead (bench_relay.py)", "", relay_goal(relay), ""]
    floor = HERE / "floor.md"  # the profiled breakdown of what the figures are made of (written by hand)
    if floor.exists():
        out += [floor.read_text().strip(), ""]
    for name in ("relay", "console", "engine", "speech"):
        run = _load(RESULTS / f"{name}-run.json")
        if run is None:
            continue
        out += [
            f"## bench_{name}.py ({run['mode']}, {run['seconds']} s, exit {run['exit']})",
            "",
            f"`{run['command']}`",
            "",
            "```",
            run["output"].strip()[-6000:],
            "```",
            "",
        ]
    return "\n".join(out) + "\n"


def readme_table(http: dict[str, Any]) -> str:
    rows = headline(http)
    lines = [
        "<!-- bench:begin -->",
        f"Measured by `make bench` on {http['machine']['cpus']} CPUs "
        "(bench/results/report.md has every figure):",
        "",
        *goals_table(rows, http["goals"]),
        "<!-- bench:end -->",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--before", help="an earlier bench_http result to show beside")
    parser.add_argument("--readme", action="store_true", help="update README.md's performance table")
    args = parser.parse_args()
    http = _load(RESULTS / "http.json")
    before = _load(Path(args.before)) if args.before else None
    (RESULTS / "report.md").write_text(report(http, before))
    print(f"wrote {RESULTS / 'report.md'}")
    if args.readme and http is not None:
        text = README.read_text()
        block = re.compile(r"<!-- bench:begin -->.*?<!-- bench:end -->", re.S)
        if not block.search(text):
            print("README.md has no <!-- bench:begin --> … <!-- bench:end --> block", file=sys.stderr)
            return 1
        README.write_text(block.sub(lambda _: readme_table(http), text))
        print("updated README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
