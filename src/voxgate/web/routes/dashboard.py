"""The admin dashboard: its data (``GET /api/admin/dashboard?from=&to=``) and its page (``/admin/dashboard``).

Admins only: anyone else signed in gets 403, and a browser that is not signed in is sent to sign in.
The data answers the questions the guides ask of a voice deployment over a time range: how many secrets
were minted and calls relayed per hour (or day), how many connects worked and how long they took (p50,
p95, as consoles report them), time to first audio (consoles and the probe), what it cost per day and
per user, how many calls were live, and how well the probe's speech was transcribed.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from voxgate.adapters.sql.dashboard import DashboardRows, DashboardStore
from voxgate.core.accounts import User
from voxgate.core.dashboard import (
    TimeRange,
    concurrency_series,
    count_series,
    percentile,
    quantile_series,
    sum_series,
)
from voxgate.errors import AuthenticationFailed, InvalidRequest, PermissionDenied
from voxgate.web.auth import authenticate, services_of
from voxgate.web.pages import STATIC_DIR

__all__ = ["router"]

router = APIRouter(tags=["admin"])
DEFAULT_SPAN = timedelta(hours=24)
TOP_USERS = 10


async def _admin(request: Request) -> User:
    user = (await authenticate(request)).user
    if not user.is_admin:
        raise PermissionDenied("Only admins may see the dashboard.")
    return user


def _overall(values: list[float]) -> dict[str, Any]:
    return {"p50": percentile(values, 0.5), "p95": percentile(values, 0.95), "n": len(values)}


def _rate(part: object, whole: object) -> float | None:
    return part / whole if isinstance(part, int) and isinstance(whole, int) and whole else None


def _connects(rows: DashboardRows, span: TimeRange) -> dict[str, Any]:
    total = len(rows.connects)
    worked = sum(1 for _, ok, _, _ in rows.connects if ok)
    tried = count_series((m for m, *_ in rows.connects), span)
    worked_series = count_series((m for m, ok, *_ in rows.connects if ok), span)
    series = [
        {"t": a["t"], "ok": b["value"], "total": a["value"], "rate": _rate(b["value"], a["value"])}
        for a, b in zip(tried, worked_series, strict=True)
    ]
    return {"total": total, "ok": worked, "success_rate": _rate(worked, total), "series": series}


def _timings(points: list[tuple[datetime, float]], span: TimeRange) -> dict[str, Any]:
    return {"series": quantile_series(points, span), **_overall([v for _, v in points])}


def _cost_per_user(rows: DashboardRows) -> list[dict[str, str]]:
    by_user: dict[str, Decimal] = defaultdict(Decimal)
    for _, name, usd in rows.costs:
        by_user[name] += usd
    top = sorted(by_user.items(), key=lambda item: item[1], reverse=True)[:TOP_USERS]
    return [{"user": name, "usd": str(usd)} for name, usd in top]


def render(rows: DashboardRows, span: TimeRange, now: datetime, *, simulated: bool) -> dict[str, Any]:
    """The dashboard's JSON from its rows."""
    connect_ms = [(m, total) for m, ok, total, _ in rows.connects if ok and total is not None]
    first_audio = [(m, fa) for m, ok, _, fa in rows.connects if ok and fa is not None]
    first_audio += [
        (p.created_at, p.first_audio_ms) for p in rows.probes if p.created_at and p.first_audio_ms is not None
    ]
    return {
        "from": span.start.isoformat(),
        "to": span.end.isoformat(),
        "step": span.step_name,
        "minted": count_series(rows.minted, span),
        "relayed": count_series(rows.relayed, span),
        "connects": _connects(rows, span),
        "connect_ms": _timings(connect_ms, span),
        "first_audio_ms": _timings(first_audio, span),
        "cost_per_day": sum_series(((m, usd) for m, _, usd in rows.costs), span.by_day()),
        "cost_per_user": _cost_per_user(rows),
        "simulated_cost": simulated,
        "live_calls": {"now": rows.live_now, "series": concurrency_series(rows.calls, span, now)},
        "accuracy": [
            {
                "t": p.created_at.isoformat() if p.created_at else None,
                "outcome": p.outcome,
                "wer": p.wer,
                "connect_ms": p.connect_ms,
                "first_audio_ms": p.first_audio_ms,
                "target": p.target,
            }
            for p in rows.probes
        ],
    }


@router.get("/api/admin/dashboard")
async def dashboard_data(
    request: Request,
    start: Annotated[datetime | None, Query(alias="from", description="Start (default: 24 h ago).")] = None,
    end: Annotated[datetime | None, Query(alias="to", description="End (default: now).")] = None,
) -> dict[str, Any]:
    """The dashboard's series over ``[from, to)`` (at most 92 days; hourly up to 3 days, daily beyond)."""
    await _admin(request)
    services = services_of(request)
    now = datetime.now(UTC)
    end = end or now
    try:
        span = TimeRange.of(start or end - DEFAULT_SPAN, end)
    except (ValueError, OverflowError) as exc:  # backwards, or at the calendar's very edge
        raise InvalidRequest(f"Invalid range: {exc}.", param="from") from None
    rows = await DashboardStore(services.db).rows(span.start, span.end)
    return render(rows, span, now, simulated=services.simulated_cost)


@router.get("/admin/dashboard", include_in_schema=False)
async def dashboard_page(request: Request) -> Response:
    """The dashboard page (its script loads the data above)."""
    try:
        await _admin(request)
    except AuthenticationFailed:
        return RedirectResponse("/signin", status_code=303)
    return FileResponse(STATIC_DIR / "admin" / "dashboard.html", headers={"Cache-Control": "no-cache"})
