"""The synthetic probe on a schedule inside ``voxgate serve``: one call every ``probe_interval_s``.

On by default only when voxgate talks to its embedded local engine (a probe call to OpenAI costs money:
set ``VOXGATE_MONITORING__PROBE_ENABLED=true`` for it). Each run goes straight to the configured upstream
with the server's key, as the gateway's own calls do, is stored for the dashboard's accuracy chart and
sets the ``voxgate_probe_*`` metrics. With several workers each runs the schedule, and a worker skips a
run when the database already holds one from the last interval (the first waits a random part of it).
The runner is handed in by the edge (``voxgate.cli``): the web layer never imports the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta

from voxgate.adapters import metrics
from voxgate.adapters.sql import Database
from voxgate.adapters.sql.probes import ProbeStore
from voxgate.core.probe import ProbeRunner, ProbeTarget
from voxgate.settings import Settings
from voxgate.web.services import embedded_engine_url

__all__ = ["ProbeSchedule", "open_probe_schedule", "probe_enabled", "probe_target"]

log = logging.getLogger("voxgate.probe")


def probe_enabled(settings: Settings) -> bool:
    """The setting, or (unset) whether the upstream is the embedded local engine."""
    configured = settings.monitoring.probe_enabled
    return settings.uses_embedded_engine if configured is None else configured


def probe_target(settings: Settings, engine_key: str | None) -> ProbeTarget | None:
    """The configured upstream's calls URL and key (None when there is no upstream to probe)."""
    if settings.uses_embedded_engine and engine_key:
        return ProbeTarget(f"{embedded_engine_url(settings)}/realtime/calls", engine_key, "local engine")
    url = settings.effective_upstream_url
    if url is None or settings.openai_api_key is None:
        return None
    host = url.split("://", 1)[-1].split("/", 1)[0]
    return ProbeTarget(
        f"{url}/realtime/calls", settings.openai_api_key.get_secret_value(), host, settings.policy.model
    )


class ProbeSchedule:
    """Runs ``runner`` against ``target`` every ``interval_s`` until closed."""

    def __init__(self, runner: ProbeRunner, target: ProbeTarget, db: Database, interval_s: float) -> None:
        self._runner = runner
        self._target = target
        self._store = ProbeStore(db)
        self._interval = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the schedule (its first run comes within one interval)."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="probe-schedule")

    async def aclose(self) -> None:
        """Stop the schedule, cancelling a run in progress."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run_once(self) -> None:
        """One probe call: stored, exported as metrics and logged."""
        result = await self._runner(self._target)
        metrics.probe_reported(
            result.outcome,
            wer=result.wer,
            connect_s=result.connect_ms / 1000 if result.connect_ms is not None else None,
            first_audio_s=result.first_audio_ms / 1000 if result.first_audio_ms is not None else None,
        )
        await self._store.record(result)
        log.info(
            "probe %s: %s, WER %s, connect %s ms, first audio %s ms",
            result.target,
            result.outcome,
            f"{result.wer:.3f}" if result.wer is not None else "-",
            f"{result.connect_ms:.0f}" if result.connect_ms is not None else "-",
            f"{result.first_audio_ms:.0f}" if result.first_audio_ms is not None else "-",
        )

    async def _due(self) -> bool:
        now = datetime.now(UTC)
        recent = await self._store.between(now - timedelta(seconds=self._interval * 0.9), now)
        return not recent

    async def _loop(self) -> None:
        # A random first wait spreads several workers (and replicas) over the interval.
        await asyncio.sleep(random.uniform(0.1, 1.0) * self._interval)
        while True:
            try:
                if await self._due():
                    await self.run_once()
            except Exception:
                log.warning("the probe failed", exc_info=True)
            await asyncio.sleep(self._interval)


def open_probe_schedule(
    settings: Settings,
    runner: ProbeRunner | None,
    engine_key: str | None,
    db: Database,
    stack: AsyncExitStack,
) -> ProbeSchedule | None:
    """Start the schedule when the probe is enabled, a runner was given and there is an upstream; it is
    closed with ``stack``."""
    target = probe_target(settings, engine_key)
    if runner is None or target is None or not probe_enabled(settings):
        return None
    schedule = ProbeSchedule(runner, target, db, settings.monitoring.probe_interval_s)
    stack.push_async_callback(schedule.aclose)
    schedule.start()
    return schedule
