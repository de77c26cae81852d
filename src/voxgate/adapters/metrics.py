"""Every Prometheus metric voxgate exports, and the small functions call sites record them with.

Metrics are defined once, here, on prometheus-client's default registry. Call sites use the functions
below (one line each) rather than the metric objects, so label values stay few and well-formed: a label
is a model, a reason or an error code, never a user, a call id or free text.

With several worker processes, ``PROMETHEUS_MULTIPROC_DIR`` must be set before this module is first
imported (``voxgate serve`` sets it); prometheus-client then writes each value to a file per process and
``/metrics`` adds them up (:mod:`voxgate.web.metrics`). Gauges say how to combine processes:
``livesum`` for what each live process holds, ``mostrecent`` for the last probe's results.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace
from prometheus_client import Counter, Gauge, Histogram

from voxgate.core.ledger import CallResponse, Transcription

__all__ = [
    "CLIENT_STEPS",
    "budget_hung_up",
    "budget_refused",
    "call_ended",
    "call_started",
    "client_reported",
    "error_answered",
    "hung_up",
    "mint_refused",
    "minted",
    "probe_reported",
    "rate_limited",
    "relayed",
    "response_recorded",
    "seconds_since",
    "supervisor_attach_failed",
    "supervisor_attached",
    "transcription_recorded",
    "upstream_answered",
]

# Seconds: from a few ms (a local upstream) to the 10 s upstream timeout and beyond.
_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_CALL_SECONDS = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0)
#: The console's connect steps (``call.js``) that become the step histogram's ``step`` label.
CLIENT_STEPS = frozenset({"token", "mic", "sdp", "channel", "session", "total", "first_audio"})

MINTED = Counter("voxgate_secrets_minted", "Short-lived secrets handed out.", ["mode"])
MINT_REFUSED = Counter("voxgate_secrets_refused", "Secrets refused, by reason (error code).", ["reason"])
RELAYED = Counter("voxgate_relayed_calls", "Calls relayed upstream.", ["api", "model"])
UPSTREAM_SECONDS = Histogram(
    "voxgate_upstream_request_seconds",
    "Upstream HTTP request latency (to its response headers).",
    ["operation", "status"],
    buckets=_LATENCY,
)
CLIENT_CONNECTS = Counter(
    "voxgate_client_connects", "Connect outcomes reported by consoles.", ["event", "outcome"]
)
CLIENT_STEP_SECONDS = Histogram(
    "voxgate_client_connect_step_seconds", "Connect step timings reported by consoles.", ["step"],
    buckets=_LATENCY,
)  # fmt: skip
FIRST_AUDIO_SECONDS = Histogram(
    "voxgate_time_to_first_audio_seconds",
    "From the end of the user's speech (or the connect) to the first reply audio.",
    ["source"],
    buckets=_LATENCY,
)
LIVE_CALLS = Gauge("voxgate_live_calls", "Calls watched by this deployment now.", multiprocess_mode="livesum")
CALL_SECONDS = Histogram("voxgate_call_duration_seconds", "Length of ended calls.", buckets=_CALL_SECONDS)
HANGUPS = Counter("voxgate_hangups", "Calls voxgate hung up, by reason.", ["reason"])
TOKENS = Counter("voxgate_tokens", "Tokens used, by model, direction and modality.",
                 ["model", "direction", "modality"])  # fmt: skip
TRANSCRIBED_SECONDS = Counter(
    "voxgate_transcribed_audio_seconds", "Seconds of input audio transcribed.", ["model"]
)
COST_USD = Counter("voxgate_cost_usd", "Cost in USD, by model (as priced in the ledger).", ["model"])
BUDGET_REFUSALS = Counter("voxgate_budget_refusals", "Calls or secrets refused by a budget.", ["reason"])
BUDGET_HANGUPS = Counter("voxgate_budget_hangups", "Calls hung up by a budget.", ["reason"])
ERRORS = Counter("voxgate_errors", "Error responses, by HTTP status and code.", ["status", "code"])
RATE_LIMITED = Counter("voxgate_rate_limited", "Requests refused by a rate limit.", ["limit"])
ATTACH_SECONDS = Histogram(
    "voxgate_supervisor_attach_seconds", "Time to attach a call's sideband.", buckets=_LATENCY
)
REATTACHES = Counter("voxgate_supervisor_reattaches", "Sidebands re-attached after being lost.")
ATTACH_FAILURES = Counter(
    "voxgate_supervisor_attach_failures", "Calls whose sideband could not be attached.", ["reason"]
)
PROBE_RUNS = Counter("voxgate_probe_runs", "Synthetic probe calls, by outcome.", ["outcome"])
PROBE_WER = Gauge("voxgate_probe_wer", "Word error rate of the last probe.", multiprocess_mode="mostrecent")
PROBE_CONNECT = Gauge(
    "voxgate_probe_connect_seconds", "Connect time of the last probe.", multiprocess_mode="mostrecent"
)
PROBE_FIRST_AUDIO = Gauge(
    "voxgate_probe_first_audio_seconds",
    "Time to first reply audio of the last probe.",
    multiprocess_mode="mostrecent",
)


_tracer = trace.get_tracer("voxgate")


def _span(name: str, seconds: float, attributes: Mapping[str, str | int]) -> None:
    """A finished span of ``seconds`` ending now (a no-op unless a tracer provider is set: see
    :mod:`voxgate.web.tracing`). Recorded after the fact, so no span is left open by a failure."""
    end = time.time_ns()
    span = _tracer.start_span(name, start_time=end - int(seconds * 1e9), attributes=dict(attributes))
    span.end(end_time=end)


def _label(value: str | None, default: str = "unknown") -> str:
    """A label value: short and never empty."""
    return (value or default)[:64]


def minted(mode: str) -> None:
    """A secret was handed out (``relay`` ticket or upstream ``ephemeral`` key)."""
    MINTED.labels(mode).inc()


def mint_refused(reason: str | None) -> None:
    """A mint was refused; ``reason`` is the error code."""
    MINT_REFUSED.labels(_label(reason)).inc()


def relayed(api: str, model: str | None) -> None:
    """A call was relayed upstream."""
    RELAYED.labels(_label(api), _label(model)).inc()


def upstream_answered(operation: str, status: int, seconds: float) -> None:
    """One upstream HTTP exchange, timed to its response headers."""
    UPSTREAM_SECONDS.labels(operation, f"{status // 100}xx").observe(seconds)
    attributes: dict[str, str | int] = {"voxgate.operation": operation, "http.response.status_code": status}
    _span(f"upstream {operation}", seconds, attributes)


def client_reported(event: str, outcome: str, steps: Mapping[str, float]) -> None:
    """A console's connect report: its outcome, and (for a connect that worked) its step timings."""
    CLIENT_CONNECTS.labels(event, _label(outcome)).inc()
    if outcome != "ok":
        return
    for name, ms in steps.items():
        step = name.removesuffix("_ms")
        if name.endswith("_ms") and step in CLIENT_STEPS:
            CLIENT_STEP_SECONDS.labels(step).observe(ms / 1000)
            if step == "first_audio":
                FIRST_AUDIO_SECONDS.labels("console").observe(ms / 1000)


def call_started() -> None:
    """This process started watching a call."""
    LIVE_CALLS.inc()


def seconds_since(moment: datetime) -> float:
    """Seconds from ``moment`` (aware, or naive UTC) to now."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return (datetime.now(UTC) - aware).total_seconds()


def call_ended(seconds: float | None) -> None:
    """This process stopped watching a call; ``seconds`` is its length when it really ended (None when
    the watch was only handed over: shutdown, a lost lease)."""
    LIVE_CALLS.dec()
    if seconds is not None:
        CALL_SECONDS.observe(max(0.0, seconds))


def hung_up(reason: str) -> None:
    """voxgate hung a call up (a user's hangup, an unwatchable call, a budget…)."""
    HANGUPS.labels(_label(reason)).inc()


def _tokens(model: str, direction: str, details: Any) -> None:
    if not isinstance(details, Mapping):
        return
    for key, count in details.items():
        if key.endswith("_tokens") and isinstance(count, int) and count > 0:
            TOKENS.labels(model, direction, key.removesuffix("_tokens")).inc(count)


def response_recorded(response: CallResponse) -> None:
    """A response's usage (tokens by modality, cached input among them) and its cost."""
    label = _label(response.model)
    _tokens(label, "input", response.usage.get("input_token_details"))
    _tokens(label, "output", response.usage.get("output_token_details"))
    if response.cost_usd is not None:
        COST_USD.labels(label).inc(float(response.cost_usd))


def transcription_recorded(transcription: Transcription) -> None:
    """An input transcription: the audio seconds it covered and its cost."""
    label = _label(transcription.model)
    if transcription.seconds:
        TRANSCRIBED_SECONDS.labels(label).inc(transcription.seconds)
    if transcription.cost_usd is not None:
        COST_USD.labels(label).inc(float(transcription.cost_usd))


def budget_refused(reason: str) -> None:
    """A budget refused a secret or a call (``reason``: which budget, e.g. ``user_daily``)."""
    BUDGET_REFUSALS.labels(_label(reason)).inc()


def budget_hung_up(reason: str) -> None:
    """A budget hung a live call up (``reason``: which budget)."""
    BUDGET_HANGUPS.labels(_label(reason)).inc()


def error_answered(status: int, code: str | None) -> None:
    """An error response left voxgate."""
    ERRORS.labels(str(status), _label(code, "none")).inc()


def rate_limited(limit: str) -> None:
    """A rate limit refused a request (``limit``: mint, calls, reports, auth…)."""
    RATE_LIMITED.labels(_label(limit)).inc()


def supervisor_attached(seconds: float, *, again: bool) -> None:
    """A sideband was attached after ``seconds``; ``again`` when it replaced a lost one."""
    ATTACH_SECONDS.observe(seconds)
    _span("supervisor attach", seconds, {"voxgate.reattach": int(again)})
    if again:
        REATTACHES.inc()


def supervisor_attach_failed(reason: str) -> None:
    """A call's sideband could not be attached (the call is then hung up)."""
    ATTACH_FAILURES.labels(_label(reason)).inc()


def probe_reported(
    outcome: str, *, wer: float | None, connect_s: float | None, first_audio_s: float | None
) -> None:
    """A synthetic probe call's results."""
    PROBE_RUNS.labels(_label(outcome)).inc()
    if wer is not None:
        PROBE_WER.set(wer)
    if connect_s is not None:
        PROBE_CONNECT.set(connect_s)
    if first_audio_s is not None:
        PROBE_FIRST_AUDIO.set(first_audio_s)
        FIRST_AUDIO_SECONDS.labels("probe").observe(first_audio_s)
