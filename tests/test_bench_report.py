"""bench/report.py: the goals beside the figures, and the README's table generated from the report."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _report_module() -> Any:
    spec = importlib.util.spec_from_file_location("bench_report", ROOT / "bench" / "report.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _figures(rps: float, p50: float, p99: float, errors: int = 0) -> dict[str, Any]:
    return {
        "rps": rps,
        "p50_ms": p50,
        "p90_ms": p50,
        "p99_ms": p99,
        "errors": errors,
        "requests": 1000,
        "cpu_ms_per_request": 1.5,
        "rss_idle_mb": 90.0,
        "rss_max_mb": 120.0,
        "rounds": 2,
    }


def _http() -> dict[str, Any]:
    mint = {
        "mint/c1": {
            "express": _figures(400, 2.0, 5),
            "voxgate": _figures(150, 5.5, 9),
            "direct": _figures(9000, 0.05, 1),
        },
        "mint/c64": {
            "express": _figures(600, 90, 900),
            "voxgate": _figures(660, 95, 400),
            "direct": _figures(20000, 2, 9),
        },
    }
    return {
        "machine": {"cpus": 2, "cpu": "test cpu", "python": "3.11", "node": "v20", "load_before": 0.5},
        "settings": {"rounds": 2},
        "goals": {"throughput_vs_express": 1.0, "added_p50_ms_at_1": 1.0},
        "results": {"delay0": mint},
    }


def test_the_goals_are_judged_from_the_figures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = _report_module()
    (row,) = report.headline(_http())
    assert row["ratio"] == pytest.approx(1.1)
    assert row["added_p50"] == pytest.approx(5.45)
    text = report.report(_http(), None)
    line = next(ln for ln in text.splitlines() if ln.startswith("| POST /api/realtime-token"))
    assert "**1.10×** (met)" in line  # throughput
    assert "**+5.45 ms** (Express +1.95) (**not met**)" in line  # added latency at 1 connection
    assert "400.0 vs 900.0 ms (met)" in line  # p99 at 64 no worse than Express's
    assert "2 CPUs (test cpu)" in text


def test_the_readme_table_is_replaced_between_its_markers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = _report_module()
    results = tmp_path / "results"
    results.mkdir()
    (results / "http.json").write_text(json.dumps(_http()))
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n<!-- bench:begin -->\nold\n<!-- bench:end -->\n\nafter\n")
    monkeypatch.setattr(report, "RESULTS", results)
    monkeypatch.setattr(report, "README", readme)
    monkeypatch.setattr("sys.argv", ["report.py", "--readme"])
    assert report.main() == 0
    text = readme.read_text()
    assert "old" not in text and text.endswith("<!-- bench:end -->\n\nafter\n")
    assert "| POST /api/realtime-token | 0 ms | 660 vs 600 = **1.10×** (met)" in text
    assert (results / "report.md").read_text().startswith("# voxgate benchmarks")
