"""The dashboard's arithmetic: time buckets, counts, percentiles, sums and concurrency over a range.

Pure functions over plain rows (the SQL adapter reads them, the web route renders the result), so the
numbers an operator sees are tested without a database. Buckets are whole UTC hours for ranges up to
:data:`HOURLY_UP_TO`, whole UTC days beyond.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

__all__ = [
    "EARLIEST",
    "HOURLY_UP_TO",
    "LATEST",
    "MAX_RANGE",
    "TimeRange",
    "concurrency_series",
    "count_series",
    "percentile",
    "quantile_series",
    "sum_series",
]

HOURLY_UP_TO = timedelta(days=3)
MAX_RANGE = timedelta(days=92)
# Far from the calendar's ends, where a bucket's arithmetic would overflow.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class TimeRange:
    """``[start, end)`` in UTC, cut in buckets of ``step`` (days when ``daily``)."""

    start: datetime
    end: datetime
    daily: bool = False

    @classmethod
    def of(cls, start: datetime, end: datetime) -> TimeRange:
        """A range with aware UTC bounds; ``end`` no later than ``start`` plus :data:`MAX_RANGE`."""
        start, end = _utc(start), _utc(end)
        if end <= start:
            raise ValueError("the range ends before it starts")
        if start < EARLIEST or end > LATEST:
            raise ValueError("the range must lie between 1970 and 9000")
        return cls(start, end if end - start <= MAX_RANGE else start + MAX_RANGE)

    def by_day(self) -> TimeRange:
        """The same range in daily buckets."""
        return TimeRange(self.start, self.end, daily=True)

    @property
    def step(self) -> timedelta:
        hourly = not self.daily and self.end - self.start <= HOURLY_UP_TO
        return timedelta(hours=1) if hourly else timedelta(days=1)

    @property
    def step_name(self) -> str:
        return "hour" if self.step == timedelta(hours=1) else "day"

    def floor(self, moment: datetime) -> datetime:
        """The start of the bucket ``moment`` falls in."""
        moment = _utc(moment)
        if self.step_name == "hour":
            return moment.replace(minute=0, second=0, microsecond=0)
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)

    def buckets(self) -> list[datetime]:
        """Every bucket start from the one holding ``start`` to the one holding the last instant."""
        out, moment = [], self.floor(self.start)
        while moment < self.end:
            out.append(moment)
            moment += self.step
        return out


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0–1) with linear interpolation between ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def count_series(times: Iterable[datetime], span: TimeRange) -> list[dict[str, object]]:
    """How many of ``times`` fall in each bucket."""
    counts = dict.fromkeys(span.buckets(), 0)
    for moment in times:
        bucket = span.floor(moment)
        if bucket in counts:
            counts[bucket] += 1
    return [{"t": t.isoformat(), "value": n} for t, n in counts.items()]


def quantile_series(points: Iterable[tuple[datetime, float]], span: TimeRange) -> list[dict[str, object]]:
    """p50 and p95 of the values in each bucket (None where a bucket has none), with their count."""
    grouped: dict[datetime, list[float]] = {t: [] for t in span.buckets()}
    for moment, value in points:
        bucket = span.floor(moment)
        if bucket in grouped:
            grouped[bucket].append(value)
    return [
        {"t": t.isoformat(), "p50": percentile(v, 0.5), "p95": percentile(v, 0.95), "n": len(v)}
        for t, v in grouped.items()
    ]


def sum_series(points: Iterable[tuple[datetime, Decimal]], span: TimeRange) -> list[dict[str, object]]:
    """The sum of the amounts in each bucket, as decimal strings (money is never a float here)."""
    sums = dict.fromkeys(span.buckets(), Decimal(0))
    for moment, amount in points:
        bucket = span.floor(moment)
        if bucket in sums:
            sums[bucket] += amount
    return [{"t": t.isoformat(), "usd": str(total)} for t, total in sums.items()]


def concurrency_series(
    intervals: Iterable[tuple[datetime, datetime | None]], span: TimeRange, now: datetime
) -> list[dict[str, object]]:
    """How many intervals (calls: start, end or None while live) overlap each bucket."""
    buckets = span.buckets()
    counts = dict.fromkeys(buckets, 0)
    for started, ended in intervals:
        started, finish = _utc(started), _utc(ended) if ended else _utc(now)
        for bucket in buckets:
            if started < bucket + span.step and finish >= bucket:
                counts[bucket] += 1
    return [{"t": t.isoformat(), "value": n} for t, n in counts.items()]
