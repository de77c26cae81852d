"""What a response or an input transcription cost, in exact USD (``Decimal``), from a dated price table.

Pure: the shipped table (:mod:`voxgate.core.prices_table`) is read once, by :func:`default_prices`;
operators correct or extend it with :meth:`PriceTable.with_overrides`. Every function answers ``None``
when the cost cannot be known (an unknown model, tokens of a kind the model has no price for, a usage
that does not say what kind its tokens were): a ledger shows "unknown", never a guess.

Token costs are exact (prices per 1M tokens times whole tokens). Per-minute costs divide by 60 and are
rounded half-even to :data:`PER_MINUTE_PLACES` decimal places, far below anything billed.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from types import MappingProxyType
from typing import Any

from voxgate.core import prices_table

__all__ = [
    "PER_MINUTE_PLACES",
    "PRICE_KEYS",
    "LivePrices",
    "PriceTable",
    "TokenPrices",
    "default_prices",
    "format_usd",
    "response_cost",
    "transcription_cost",
]

#: The token price categories, as named in the table and in overrides (USD per 1M tokens).
PRICE_KEYS = (
    "text_in",
    "text_cached",
    "text_out",
    "audio_in",
    "audio_cached",
    "audio_out",
    "image_in",
    "image_cached",
)
_LIVE_KEYS = {"live_active_per_minute": "active", "live_standby_per_minute": "standby"}
_OVERRIDE_KEYS = (*PRICE_KEYS, "per_minute", *_LIVE_KEYS)
PER_MINUTE_PLACES = 12
_PER_MINUTE_QUANTUM = Decimal(1).scaleb(-PER_MINUTE_PLACES)


class _Unknown(Exception):
    """Internal: the usage cannot be priced."""


@dataclass(frozen=True, slots=True)
class TokenPrices:
    """USD per 1M tokens of one model; ``None`` where the model has no published price."""

    text_in: Decimal | None = None
    text_cached: Decimal | None = None
    text_out: Decimal | None = None
    audio_in: Decimal | None = None
    audio_cached: Decimal | None = None
    audio_out: Decimal | None = None
    image_in: Decimal | None = None
    image_cached: Decimal | None = None


@dataclass(frozen=True, slots=True)
class LivePrices:
    """USD per minute of a GPT-Live session, billed per second; ``standby`` None where the model has none."""

    active: Decimal
    standby: Decimal | None = None


@dataclass(frozen=True)
class PriceTable:
    """Prices valid on ``as_of``: token prices and per-minute transcription prices, per model.

    ``snapshots`` maps dated snapshot names (``gpt-realtime-2025-08-28``) to the base model they are
    billed like; a model's own entry always wins over its snapshot mapping.
    """

    as_of: date
    tokens: Mapping[str, TokenPrices]
    per_minute: Mapping[str, Decimal]
    snapshots: Mapping[str, str] = field(default_factory=dict)
    live: Mapping[str, LivePrices] = field(default_factory=dict)

    def _resolve(self, model: str, table: Mapping[str, Any]) -> Any:
        if model in table:
            return table[model]
        base = self.snapshots.get(model)
        return table.get(base) if base is not None else None

    def token_prices(self, model: str) -> TokenPrices | None:
        """The token prices of ``model`` (a dated snapshot resolves to its base model), or ``None``."""
        prices: TokenPrices | None = self._resolve(model, self.tokens)
        return prices

    def per_minute_price(self, model: str) -> Decimal | None:
        """USD per minute of audio for transcription ``model`` (snapshots resolved), or ``None``."""
        price: Decimal | None = self._resolve(model, self.per_minute)
        return price

    def live_prices(self, model: str) -> LivePrices | None:
        """The per-second session prices of GPT-Live ``model`` (snapshots resolved), or ``None``."""
        prices: LivePrices | None = self._resolve(model, self.live)
        return prices

    def with_overrides(self, overrides: Mapping[str, Mapping[str, Decimal]]) -> PriceTable:
        """A copy with ``overrides`` applied: ``{model: {key: USD}}``.

        Keys are :data:`PRICE_KEYS` (per 1M tokens), ``per_minute`` (transcription) and
        ``live_active_per_minute`` / ``live_standby_per_minute`` (GPT-Live session time). An override for
        a model the table does not know adds it; one for a known snapshot starts from its base model's
        prices and applies to that snapshot only. Raises :class:`ValueError` naming an unknown key or a
        bad value.
        """
        tokens = dict(self.tokens)
        per_minute = dict(self.per_minute)
        live = dict(self.live)
        for model, values in overrides.items():
            unknown = [key for key in values if key not in _OVERRIDE_KEYS]
            if unknown:
                raise ValueError(
                    f"Unknown price key {unknown[0]!r} for model {model!r}; "
                    f"expected one of: {', '.join(_OVERRIDE_KEYS)}."
                )
            checked = {key: _price(model, key, value) for key, value in values.items()}
            if "per_minute" in checked:
                per_minute[model] = checked.pop("per_minute")
            live_values = {_LIVE_KEYS[key]: checked.pop(key) for key in list(checked) if key in _LIVE_KEYS}
            if live_values:
                live[model] = replace(self.live_prices(model) or LivePrices(Decimal(0)), **live_values)
            if checked:
                tokens[model] = replace(self.token_prices(model) or TokenPrices(), **checked)
        return PriceTable(
            as_of=self.as_of,
            tokens=MappingProxyType(tokens),
            per_minute=MappingProxyType(per_minute),
            snapshots=self.snapshots,
            live=MappingProxyType(live),
        )


def _price(model: str, key: str, value: Any) -> Decimal:
    """An override value as a non-negative finite Decimal (floats go through ``str`` to avoid drift)."""
    try:
        price = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValueError(f"Invalid price {value!r} for {model!r} {key!r}.") from None
    if isinstance(value, bool) or not price.is_finite() or price < 0:
        raise ValueError(f"Invalid price {value!r} for {model!r} {key!r}.")
    return price


@functools.cache
def default_prices() -> PriceTable:
    """The shipped table (see :mod:`voxgate.core.prices_table`), built once."""
    return PriceTable(
        as_of=date.fromisoformat(prices_table.AS_OF),
        tokens=MappingProxyType(
            {
                model: TokenPrices(**{key: Decimal(value) for key, value in row.items()})
                for model, row in prices_table.TOKENS.items()
            }
        ),
        per_minute=MappingProxyType({m: Decimal(p) for m, p in prices_table.PER_MINUTE.items()}),
        snapshots=MappingProxyType(dict(prices_table.SNAPSHOTS)),
        live=MappingProxyType(
            {
                model: LivePrices(**{key: Decimal(value) for key, value in row.items()})
                for model, row in prices_table.LIVE_PER_MINUTE.items()
            }
        ),
    )


# ---- usage → cost --------------------------------------------------------------------------------------


def _count(obj: Mapping[str, Any], key: str) -> int:
    """A token count; missing or null is 0, anything but a non-negative integer makes the cost unknown."""
    value = obj.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Unknown
    return value


def _details(obj: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _Unknown
    return value


def _cached_split(details: Mapping[str, Any], fresh: dict[str, int]) -> dict[str, int]:
    """Cached tokens per kind (text/audio/image), from ``cached_tokens_details``.

    Without the breakdown, ``cached_tokens`` can only be attributed when exactly one kind has input
    tokens (all cached tokens are then of that kind); otherwise the split, and so the cost, is unknown.
    """
    breakdown = _details(details, "cached_tokens_details")
    if breakdown is not None:
        # The itemized breakdown is what is billed; ``cached_tokens`` is only its sum.
        return {kind: _count(breakdown, f"{kind}_tokens") for kind in fresh}
    cached = _count(details, "cached_tokens")
    if cached == 0:
        return dict.fromkeys(fresh, 0)
    present = [kind for kind, n in fresh.items() if n > 0]
    if len(present) != 1:
        raise _Unknown
    return {kind: cached if kind == present[0] else 0 for kind in fresh}


def _token_counts(usage: Mapping[str, Any]) -> dict[str, int]:
    """Tokens per price category of a GA ``response.done.response.usage``, each token counted once."""
    counts = dict.fromkeys(PRICE_KEYS, 0)
    details = _details(usage, "input_token_details")
    if details is None:
        if _count(usage, "input_tokens"):
            raise _Unknown  # tokens of an unknown kind
    else:
        inputs = {kind: _count(details, f"{kind}_tokens") for kind in ("text", "audio", "image")}
        cached = _cached_split(details, inputs)
        for kind, total in inputs.items():
            if cached[kind] > total:
                raise _Unknown  # an inconsistent usage: cached tokens are a subset of the input
            counts[f"{kind}_in"] = total - cached[kind]
            counts[f"{kind}_cached"] = cached[kind]
    out = _details(usage, "output_token_details")
    if out is None:
        if _count(usage, "output_tokens"):
            raise _Unknown
    else:
        counts["text_out"] = _count(out, "text_tokens")
        counts["audio_out"] = _count(out, "audio_tokens")
    return counts


def _tokens_cost(prices: TokenPrices, counts: Mapping[str, int]) -> Decimal:
    total = Decimal(0)
    for key, n in counts.items():
        if n == 0:
            continue
        price: Decimal | None = getattr(prices, key)
        if price is None:
            raise _Unknown  # tokens of a kind this model has no price for
        total += price * n
    return total.scaleb(-6)  # per 1M tokens; scaleb is exact


def response_cost(table: PriceTable, model: str, usage: Mapping[str, Any]) -> Decimal | None:
    """USD of one response's ``usage`` (``response.done.response.usage``), or ``None`` if unknowable.

    Cached tokens are a subset of the input tokens: ``text_tokens - cached text`` is billed at ``text_in``
    and the cached text at ``text_cached``, likewise for audio and image. Missing fields count 0, but a
    positive ``input_tokens``/``output_tokens`` without its ``…_token_details`` is unknown, and so is a
    positive ``cached_tokens`` without ``cached_tokens_details`` unless exactly one input kind has tokens.
    """
    prices = table.token_prices(model)
    if prices is None:
        return None
    try:
        return _tokens_cost(prices, _token_counts(usage))
    except _Unknown:
        return None


def _seconds(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise _Unknown
    seconds = value if isinstance(value, Decimal) else Decimal(str(value))
    if not seconds.is_finite() or seconds < 0:
        raise _Unknown
    return seconds


def _duration_cost(table: PriceTable, model: str, seconds: Any) -> Decimal:
    price = table.per_minute_price(model)
    if price is None:
        raise _Unknown
    with localcontext() as ctx:
        ctx.prec = 50
        return (price * _seconds(seconds) / 60).quantize(_PER_MINUTE_QUANTUM, rounding=ROUND_HALF_EVEN)


def _transcription_tokens_cost(prices: TokenPrices, usage: Mapping[str, Any]) -> Decimal:
    """``{"type": "tokens", input_tokens, output_tokens, input_token_details{text_tokens, audio_tokens}}``:
    the output is the transcript, i.e. text."""
    counts = dict.fromkeys(PRICE_KEYS, 0)
    details = _details(usage, "input_token_details")
    if details is None:
        if _count(usage, "input_tokens"):
            raise _Unknown
    else:
        counts["text_in"] = _count(details, "text_tokens")
        counts["audio_in"] = _count(details, "audio_tokens")
    counts["text_out"] = _count(usage, "output_tokens")
    return _tokens_cost(prices, counts)


def transcription_cost(
    table: PriceTable,
    model: str,
    *,
    seconds: float | None = None,
    usage: Mapping[str, Any] | None = None,
) -> Decimal | None:
    """USD of one input transcription by ``model``, or ``None`` if unknowable.

    ``usage`` is the ``usage`` of ``…input_audio_transcription.completed``:

    * ``{"type": "duration", "seconds": s}`` is priced per minute;
    * ``{"type": "tokens", …}`` is priced by the model's token prices; a model billed per minute (no token
      prices) is priced per minute from ``seconds`` (the transcribed audio's length) when it is given;
    * without ``usage``, ``seconds`` is priced per minute.
    """
    try:
        if usage is None:
            return _duration_cost(table, model, seconds) if seconds is not None else None
        kind = usage.get("type")
        if kind == "duration":
            return _duration_cost(table, model, usage.get("seconds"))
        if kind == "tokens":
            prices = table.token_prices(model)
            if prices is not None:
                return _transcription_tokens_cost(prices, usage)
            return _duration_cost(table, model, seconds) if seconds is not None else None
        return None
    except _Unknown:
        return None


def format_usd(value: Decimal | None) -> str:
    """``$0.0123`` (four decimals, half up), ``<$0.0001`` for a smaller positive cost, or ``unknown``."""
    if value is None or not value.is_finite():
        return "unknown"
    sign = "-" if value < 0 else ""
    shown = abs(value).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    if shown == 0 and value != 0:
        return f"{sign}<$0.0001"
    return f"{sign}${shown}"
