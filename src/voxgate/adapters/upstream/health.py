"""Whether the upstream works, as ``/readyz`` reports it, without letting ``/readyz`` call the upstream.

Two sources feed it: every real upstream call (a mint, a relayed offer, a hangup, a sideband) reports its
outcome as it ends, and a background probe (the upstream's cheapest authenticated request) runs while
somebody is asking: at most once per ``ok_ttl`` while healthy and once per ``failure_ttl`` while not,
however often ``/readyz`` is hit, and not at all after ``idle_after`` seconds without a question (or while
real traffic keeps the answer fresh). A failure seen by real traffic shows at once; a recovery shows
within ``failure_ttl``.

``/readyz`` only reads the last outcome (waiting for the probe in flight when there is none yet or it is
stale), so anonymous traffic never makes an upstream request of its own. Details are fixed sentences per
error code: nothing the upstream said reaches the (anonymous) page.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from voxgate.errors import UpstreamError, UpstreamNotConfigured, UpstreamRejected

__all__ = ["HealthReport", "UpstreamHealth"]

log = logging.getLogger("voxgate.upstream")

_SUMMARY = {
    "upstream_auth_failed": "the upstream refused voxgate's key; check OPENAI_API_KEY on the server",
    "upstream_timeout": "the upstream did not answer in time",
    "upstream_unreachable": "could not reach the upstream",
    "upstream_rate_limited": "the upstream is rate limiting voxgate",
    "upstream_quota_exhausted": "the upstream account has no quota left",
    "upstream_bad_response": "the upstream sent an unusable answer",
}


@dataclass(frozen=True, slots=True)
class HealthReport:
    """The upstream's last known state: ``detail`` is ``"ok"`` or ``"failed: …"``."""

    ok: bool
    detail: str
    at: float


def _report_of(exc: UpstreamError, at: float) -> HealthReport:
    if isinstance(exc, UpstreamNotConfigured):
        summary = exc.message  # voxgate's own sentence saying what to configure
    else:
        summary = _SUMMARY.get(exc.code, "the upstream answered with an error")
    return HealthReport(ok=False, detail=f"failed: {summary} ({exc.code})", at=at)


class UpstreamHealth:
    """The last outcome, the probe that refreshes it, and the task that runs the probe."""

    def __init__(
        self,
        probe: Callable[[], Awaitable[None]],
        *,
        ok_ttl: float = 5.0,
        failure_ttl: float = 2.0,
        idle_after: float = 60.0,
    ) -> None:
        self._probe = probe
        self.ok_ttl = ok_ttl
        self.failure_ttl = failure_ttl
        self.idle_after = idle_after
        self._last: HealthReport | None = None
        self._asked_at = -idle_after
        self._asked = asyncio.Event()
        self._fresh = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    # ---- what real traffic tells it ----------------------------------------------------------------------

    def record_ok(self) -> None:
        """An upstream call just succeeded."""
        self._set(HealthReport(ok=True, detail="ok", at=_now()))

    def record_failure(self, exc: UpstreamError) -> None:
        """An upstream call just failed; the caller's own mistakes (``UpstreamRejected``) say nothing."""
        if not isinstance(exc, UpstreamRejected):
            self._set(_report_of(exc, _now()))

    def _set(self, report: HealthReport) -> None:
        self._last = report
        self._fresh.set()

    # ---- what /readyz asks -------------------------------------------------------------------------------

    def _stale(self, report: HealthReport | None) -> bool:
        if report is None:
            return True
        return _now() - report.at >= (self.ok_ttl if report.ok else self.failure_ttl)

    async def report(self, wait: float) -> HealthReport:
        """The last outcome; when there is none or it is stale, the probe's next one (waiting at most
        ``wait`` seconds for it, then answering with what is known)."""
        self._asked_at = _now()
        self._asked.set()
        if self._task is None and not self._closed:
            self._task = asyncio.create_task(self._run(), name="upstream-health")
        if self._stale(self._last):
            self._fresh.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._fresh.wait()
        last = self._last
        if last is None:
            return HealthReport(ok=False, detail="failed: not checked yet (upstream_unknown)", at=_now())
        return last

    # ---- the probe ---------------------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            if _now() - self._asked_at >= self.idle_after:
                self._asked.clear()
                await self._asked.wait()  # nobody is asking: no probes
            last = self._last
            if self._stale(last):
                await self._probe_once()
                continue
            assert last is not None
            await asyncio.sleep((self.ok_ttl if last.ok else self.failure_ttl) - (_now() - last.at))

    async def _probe_once(self) -> None:
        try:
            await self._probe()
        except UpstreamError as exc:
            report = _report_of(exc, _now())
            if self._last is None or self._last.ok:
                log.warning("upstream check failed: %s", report.detail)
            self._set(report)
        except Exception as exc:  # a bug in a probe must not end the task that reports it
            log.error("upstream check raised %s", type(exc).__name__)
            self._set(HealthReport(ok=False, detail="failed: the check itself failed", at=_now()))
        else:
            self.record_ok()

    async def aclose(self) -> None:
        """Stop the probe (idempotent)."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def _now() -> float:
    return asyncio.get_running_loop().time()
