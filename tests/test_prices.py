"""Prices: hand-computed costs from the shipped table (USD per 1M tokens; per minute for transcription)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from tests.support.usage import REFERENCE_USAGE
from voxgate.core.prices import (
    PriceTable,
    TokenPrices,
    default_prices,
    format_usd,
    response_cost,
    transcription_cost,
)


def usage(
    text: int = 0,
    audio: int = 0,
    image: int = 0,
    cached: tuple[int, int, int] = (0, 0, 0),
    out_text: int = 0,
    out_audio: int = 0,
) -> dict[str, Any]:
    return {
        "input_tokens": text + audio + image,
        "output_tokens": out_text + out_audio,
        "input_token_details": {
            "text_tokens": text,
            "audio_tokens": audio,
            "image_tokens": image,
            "cached_tokens": sum(cached),
            "cached_tokens_details": dict(
                zip(("text_tokens", "audio_tokens", "image_tokens"), cached, strict=True)
            ),
        },
        "output_token_details": {"text_tokens": out_text, "audio_tokens": out_audio},
    }


def test_shipped_table() -> None:
    table = default_prices()
    assert table.as_of == date(2026, 11, 30)
    assert default_prices() is table  # built once
    assert table.token_prices("gpt-realtime-2.1") == TokenPrices(
        text_in=Decimal("4.00"),
        text_cached=Decimal("0.40"),
        text_out=Decimal("24.00"),
        audio_in=Decimal("32.00"),
        audio_cached=Decimal("0.40"),
        audio_out=Decimal("64.00"),
        image_in=Decimal("5.00"),
        image_cached=Decimal("0.50"),
    )
    legacy = table.token_prices("gpt-4o-mini-realtime-preview")
    assert legacy is not None and legacy.text_cached == Decimal("0.30") and legacy.image_in is None
    for model in ("gpt-realtime-2.1-mini", "gpt-realtime-2", "gpt-realtime-1.5", "gpt-realtime"):
        assert table.token_prices(model) is not None
    assert table.per_minute_price("gpt-realtime-whisper") == Decimal("0.017")
    assert table.per_minute_price("gpt-transcribe") == Decimal("0.0045")


def test_reference_example_with_cached_audio() -> None:
    table = default_prices()
    # gpt-realtime-2.1: text 59 × 4.00 = 236.00; audio (73 - 64 cached) = 9 × 32.00 = 288.00;
    # cached audio 64 × 0.40 = 25.60; text out 41 × 24.00 = 984.00; audio out 147 × 64.00 = 9408.00.
    # 236 + 288 + 25.6 + 984 + 9408 = 10941.60 per 1M → 0.0109416
    assert response_cost(table, "gpt-realtime-2.1", REFERENCE_USAGE) == Decimal("0.0109416")
    # gpt-realtime-1.5 bills text out at 16.00: 41 × 16 = 656 → 236 + 288 + 25.6 + 656 + 9408 = 10613.6
    assert response_cost(table, "gpt-realtime-1.5", REFERENCE_USAGE) == Decimal("0.0106136")


def test_every_category_on_the_mini_model() -> None:
    cost = response_cost(
        default_prices(),
        "gpt-realtime-2.1-mini",
        usage(text=1000, audio=2000, image=500, cached=(400, 1000, 100), out_text=300, out_audio=600),
    )
    # text (1000 - 400) × 0.60 = 360     cached text 400 × 0.06 = 24
    # audio (2000 - 1000) × 10.00 = 10000 cached audio 1000 × 0.30 = 300
    # image (500 - 100) × 0.80 = 320     cached image 100 × 0.08 = 8
    # out text 300 × 2.40 = 720          out audio 600 × 20.00 = 12000
    # 360 + 24 + 10000 + 300 + 320 + 8 + 720 + 12000 = 23732 per 1M → 0.023732
    assert cost == Decimal("0.023732")


def test_snapshots_are_billed_like_their_base() -> None:
    table = default_prices()
    u = usage(text=100, audio=50, out_audio=20)
    assert response_cost(table, "gpt-realtime-2025-08-28", u) == response_cost(table, "gpt-realtime", u)
    # gpt-realtime-mini-2025-10-06 → gpt-realtime-mini: 100 × 0.60 + 50 × 10 + 20 × 20 = 60 + 500 + 400
    assert response_cost(table, "gpt-realtime-mini-2025-10-06", u) == Decimal("0.00096")
    assert response_cost(table, "gpt-realtime-mini-2025-12-15", u) == Decimal("0.00096")
    # An unlisted dated name is not assumed to cost what its base costs.
    assert table.token_prices("gpt-realtime-2.1-2027-01-01") is None


def test_unknown_model_and_missing_image_price_are_unknown() -> None:
    table = default_prices()
    assert response_cost(table, "gpt-9-realtime", REFERENCE_USAGE) is None
    # The legacy preview has no image price: an image token makes the whole cost unknown.
    assert response_cost(table, "gpt-4o-mini-realtime-preview", usage(text=10, image=1)) is None
    # Without images it is priced: (100 - 50) × 0.60 = 30; cached text 50 × 0.30 = 15; out 10 × 2.40 = 24
    # → 69 per 1M
    assert response_cost(
        table, "gpt-4o-mini-realtime-preview", usage(text=100, cached=(50, 0, 0), out_text=10)
    ) == Decimal("0.000069")


def test_cached_tokens_without_their_breakdown() -> None:
    table = default_prices()
    only_text = {"input_token_details": {"text_tokens": 100, "cached_tokens": 40}}
    # One input kind only, so the cached tokens are text: 60 × 4.00 + 40 × 0.40 = 240 + 16 = 256 per 1M
    assert response_cost(table, "gpt-realtime-2.1", only_text) == Decimal("0.000256")
    mixed = {"input_token_details": {"text_tokens": 100, "audio_tokens": 100, "cached_tokens": 40}}
    assert response_cost(table, "gpt-realtime-2.1", mixed) is None  # text or audio? unknown
    uncached = {"input_token_details": {"text_tokens": 100, "audio_tokens": 10, "cached_tokens": 0}}
    # 100 × 4 + 10 × 32 = 720 per 1M
    assert response_cost(table, "gpt-realtime-2.1", uncached) == Decimal("0.00072")


@pytest.mark.parametrize(
    "bad",
    [
        {"input_tokens": 10},  # tokens of an unknown kind
        {"output_tokens": 5, "output_token_details": None},
        {"input_token_details": {"text_tokens": 5, "cached_tokens_details": {"text_tokens": 6}}},
        {"input_token_details": {"text_tokens": -1}},
        {"input_token_details": {"text_tokens": "12"}},
        {"input_token_details": "oops"},
    ],
)
def test_usage_that_cannot_be_priced(bad: dict[str, Any]) -> None:
    assert response_cost(default_prices(), "gpt-realtime-2.1", bad) is None


def test_missing_fields_count_zero() -> None:
    table = default_prices()
    assert response_cost(table, "gpt-realtime-2.1", {}) == Decimal(0)
    # Only audio out: 50 × 64.00 = 3200 per 1M
    assert response_cost(
        table, "gpt-realtime-2.1", {"output_token_details": {"audio_tokens": 50}}
    ) == Decimal("0.0032")


def test_decimal_sums_are_exact() -> None:
    table = default_prices()
    one = response_cost(table, "gpt-realtime-2.1", REFERENCE_USAGE)
    assert one is not None
    # 0.0109416 × 10, with no binary drift (as floats, ten 0.0109416 sum to 0.10941599999999997)
    assert sum([one] * 10, Decimal(0)) == Decimal("0.109416")
    assert sum([0.0109416] * 10) != 0.109416
    tiny = response_cost(table, "gpt-realtime-2.1-mini", usage(text=1, cached=(1, 0, 0)))
    assert tiny == Decimal("0.00000006")  # one cached text token at 0.06 per 1M


def test_overrides() -> None:
    base = default_prices()
    table = base.with_overrides(
        {
            "gpt-realtime-2.1": {"audio_out": Decimal("70.00")},
            "house-model": {"text_in": Decimal("1"), "text_out": Decimal("2")},
            "gpt-realtime-2025-08-28": {"text_out": Decimal("20")},
            "gpt-realtime-whisper": {"per_minute": Decimal("0.02")},
        }
    )
    # audio out 147 × 70 = 10290 instead of 9408: 10941.6 - 9408 + 10290 = 11823.6 per 1M
    assert response_cost(table, "gpt-realtime-2.1", REFERENCE_USAGE) == Decimal("0.0118236")
    assert response_cost(base, "gpt-realtime-2.1", REFERENCE_USAGE) == Decimal("0.0109416")  # unchanged
    # A new model: 1000 × 1 + 500 × 2 = 2000 per 1M; it has no audio price, so audio is unknown.
    assert response_cost(table, "house-model", usage(text=1000, out_text=500)) == Decimal("0.002")
    assert response_cost(table, "house-model", usage(audio=1)) is None
    # The snapshot keeps its base's other prices; the base itself is untouched.
    snapshot = table.token_prices("gpt-realtime-2025-08-28")
    assert (
        snapshot is not None and snapshot.text_out == Decimal("20") and snapshot.audio_in == Decimal("32.00")
    )
    assert table.token_prices("gpt-realtime") == base.token_prices("gpt-realtime")
    assert table.per_minute_price("gpt-realtime-whisper") == Decimal("0.02")


def test_override_refusals() -> None:
    with pytest.raises(ValueError, match="'audio_output'"):
        default_prices().with_overrides({"gpt-realtime-2.1": {"audio_output": Decimal(1)}})
    with pytest.raises(ValueError, match="text_in"):
        default_prices().with_overrides({"gpt-realtime-2.1": {"text_in": Decimal(-1)}})


def test_transcription_by_duration() -> None:
    table = default_prices()
    # 90 s of gpt-realtime-whisper: 0.017 × 1.5 min = 0.0255
    assert transcription_cost(table, "gpt-realtime-whisper", usage={"type": "duration", "seconds": 90}) == (
        Decimal("0.0255")
    )
    # 40 s of gpt-transcribe: 0.0045 × 40 / 60 = 0.003
    assert transcription_cost(table, "gpt-transcribe", seconds=40) == Decimal("0.003")
    # 10 s of whisper-1: 0.006 / 6 = 0.001; 120 s of the mini snapshot: 0.003 × 2 = 0.006
    assert transcription_cost(table, "whisper-1", usage={"type": "duration", "seconds": 10.0}) == Decimal(
        "0.001"
    )
    assert transcription_cost(table, "gpt-4o-mini-transcribe-2025-12-15", seconds=120) == Decimal("0.006")
    # 0.1 s stays 0.1 (no float drift): 0.0045 × 0.1 / 60 = 0.0000075
    assert transcription_cost(table, "gpt-transcribe", seconds=0.1) == Decimal("0.0000075")
    # 1 s: 0.017 / 60 = 0.000283333…, rounded to 12 places
    assert transcription_cost(table, "gpt-live-transcribe", seconds=1) == Decimal("0.000283333333")
    assert transcription_cost(table, "gpt-9-transcribe", seconds=60) is None
    assert transcription_cost(table, "gpt-realtime-whisper") is None  # nothing to price
    assert transcription_cost(table, "gpt-realtime-whisper", usage={"type": "duration"}) is None


def test_transcription_by_tokens() -> None:
    table = default_prices()
    tokens = {
        "type": "tokens",
        "input_tokens": 510,
        "output_tokens": 40,
        "total_tokens": 550,
        "input_token_details": {"text_tokens": 10, "audio_tokens": 500},
    }
    # gpt-realtime-whisper is billed per minute and has no token price: unknown without the duration…
    assert transcription_cost(table, "gpt-realtime-whisper", usage=tokens) is None
    # …and per minute with it: 30 s × 0.017 / 60 = 0.0085
    assert transcription_cost(table, "gpt-realtime-whisper", usage=tokens, seconds=30) == Decimal("0.0085")
    priced = table.with_overrides(
        {"gpt-4o-mini-transcribe": {"text_in": Decimal("1.25"), "audio_in": Decimal("3"), "text_out": 5}}
    )
    # 10 × 1.25 + 500 × 3 + 40 × 5 = 12.5 + 1500 + 200 = 1712.5 per 1M
    assert transcription_cost(priced, "gpt-4o-mini-transcribe", usage=tokens) == Decimal("0.0017125")
    assert transcription_cost(table, "gpt-transcribe", usage={"type": "words"}) is None


def test_format_usd() -> None:
    assert format_usd(Decimal("0.0123")) == "$0.0123"
    assert format_usd(Decimal("0.0109416")) == "$0.0109"
    assert format_usd(Decimal("12.34565")) == "$12.3457"
    assert format_usd(Decimal("0.00000006")) == "<$0.0001"
    assert format_usd(Decimal(0)) == "$0.0000"
    assert format_usd(None) == "unknown"


def test_table_is_a_plain_value() -> None:
    table = PriceTable(as_of=date(2026, 1, 1), tokens={}, per_minute={})
    assert table.token_prices("gpt-realtime-2.1") is None
    assert response_cost(table, "gpt-realtime-2.1", {}) is None
