"""Announced model shutdowns: one warning per configured model that is affected, before and after."""

from __future__ import annotations

from datetime import date

from voxgate.core.model_lifecycle import REALTIME_SHUTDOWNS, TRANSCRIPTION_SHUTDOWNS, shutdown_warnings


def test_warnings_before_the_dates() -> None:
    warnings = shutdown_warnings(
        ["gpt-realtime-2.1", "gpt-realtime"], ["gpt-realtime-whisper", "whisper-1"], date(2026, 11, 30)
    )
    assert warnings == [
        "Realtime model gpt-realtime shuts down on 2027-01-20 (in 51 days); use gpt-realtime-2.1.",
        "Input transcription model whisper-1 shuts down on 2027-02-26 (in 88 days); use gpt-realtime-whisper "
        "(or gpt-transcribe, gpt-live-transcribe).",
    ]


def test_warnings_after_the_dates() -> None:
    warnings = shutdown_warnings(
        ["gpt-realtime-mini-2025-12-15"], ["gpt-4o-mini-transcribe"], date(2027, 3, 1)
    )
    assert warnings == [
        "Realtime model gpt-realtime-mini-2025-12-15 shut down on 2027-01-20; use gpt-realtime-2.1-mini.",
        "Input transcription model gpt-4o-mini-transcribe shut down on 2027-02-26; use gpt-realtime-whisper "
        "(or gpt-transcribe, gpt-live-transcribe).",
    ]


def test_on_the_day_and_the_day_before() -> None:
    (before,) = shutdown_warnings(["gpt-audio-mini"], [], date(2027, 1, 19))
    assert before.endswith("shuts down on 2027-01-20 (in 1 day); use gpt-realtime-2.1-mini.")
    (on_the_day,) = shutdown_warnings(["gpt-audio-mini"], [], date(2027, 1, 20))
    assert "shut down on 2027-01-20;" in on_the_day


def test_unaffected_duplicate_and_empty_names() -> None:
    today = date(2026, 11, 30)
    # The -2025-10-06 mini snapshot has no announced date; the current models have none either.
    assert (
        shutdown_warnings(
            ["gpt-realtime-mini-2025-10-06", "gpt-realtime-2.1-mini", ""],
            ["gpt-transcribe", "gpt-live-transcribe", "gpt-realtime-whisper"],
            today,
        )
        == []
    )
    assert len(shutdown_warnings(["gpt-realtime", "gpt-realtime"], ["whisper-1"] * 3, today)) == 2
    # A transcription model named as a realtime model (or the reverse) is not warned about twice.
    assert shutdown_warnings(["whisper-1"], ["gpt-realtime"], today) == []


def test_the_announced_lists() -> None:
    assert set(REALTIME_SHUTDOWNS) == {
        "gpt-realtime",
        "gpt-realtime-2025-08-28",
        "gpt-realtime-mini",
        "gpt-realtime-mini-2025-12-15",
        "gpt-audio-mini",
        "gpt-audio-mini-2025-12-15",
    }
    assert {s.on for s in REALTIME_SHUTDOWNS.values()} == {date(2027, 1, 20)}
    assert set(TRANSCRIPTION_SHUTDOWNS) == {
        "whisper-1",
        "gpt-4o-mini-transcribe",
        "gpt-4o-mini-transcribe-2025-12-15",
        "gpt-4o-transcribe",
        "gpt-4o-transcribe-diarize",
    }
    assert {s.on for s in TRANSCRIPTION_SHUTDOWNS.values()} == {date(2027, 2, 26)}
