"""The dashboard's arithmetic on plain rows: buckets, percentiles, sums and concurrency."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from voxgate.core.dashboard import (
    MAX_RANGE,
    TimeRange,
    concurrency_series,
    count_series,
    percentile,
    quantile_series,
    sum_series,
)

T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([], 0.5) is None
    assert percentile([5.0], 0.95) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([10.0, 20.0], 0.95) == pytest.approx(19.5)


def test_hourly_up_to_three_days_then_daily_and_never_past_92_days() -> None:
    hours = TimeRange.of(T0, T0 + timedelta(hours=5, minutes=30))
    assert hours.step_name == "hour"
    assert len(hours.buckets()) == 6
    days = TimeRange.of(T0, T0 + timedelta(days=10))
    assert days.step_name == "day"
    assert days.buckets()[0] == T0.replace(hour=0)
    assert TimeRange.of(T0, T0 + timedelta(days=400)).end == T0 + MAX_RANGE
    assert TimeRange.of(T0, T0 + timedelta(hours=2)).by_day().step_name == "day"
    with pytest.raises(ValueError, match="before"):
        TimeRange.of(T0, T0)
    # Naive times are UTC.
    assert TimeRange.of(T0.replace(tzinfo=None), T0.replace(tzinfo=None) + timedelta(hours=1)).start == T0


def test_series_put_each_row_in_its_bucket_and_drop_the_rest() -> None:
    span = TimeRange.of(T0, T0 + timedelta(hours=3))
    times = [T0, T0 + timedelta(minutes=59), T0 + timedelta(hours=2), T0 - timedelta(hours=1)]
    assert [p["value"] for p in count_series(times, span)] == [2, 0, 1]
    points = [(T0, 100.0), (T0 + timedelta(minutes=5), 300.0)]
    first = quantile_series(points, span)[0]
    assert (first["p50"], first["n"]) == (200.0, 2)
    assert quantile_series(points, span)[1]["p50"] is None
    money = [(T0, Decimal("0.10")), (T0 + timedelta(minutes=1), Decimal("0.0000000001"))]
    assert sum_series(money, span)[0]["usd"] == "0.1000000001"


def test_concurrency_counts_every_call_overlapping_each_bucket() -> None:
    span = TimeRange.of(T0, T0 + timedelta(hours=3))
    calls = [
        (T0 + timedelta(minutes=10), T0 + timedelta(minutes=20)),  # first hour only
        (T0 + timedelta(minutes=50), T0 + timedelta(hours=1, minutes=10)),  # first two hours
        (T0 + timedelta(hours=2, minutes=30), None),  # still live
    ]
    now = T0 + timedelta(hours=2, minutes=45)
    assert [p["value"] for p in concurrency_series(calls, span, now)] == [2, 1, 1]
