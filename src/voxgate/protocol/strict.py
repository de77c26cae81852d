"""Strict parsing against the official openai-python types.

The SDK's pydantic models are ``extra="allow"``, so on their own they let unknown keys through, while the
real API answers them with ``unknown_parameter``. We validate with the official models (the source of
truth for names and shapes) and then walk the result for anything that landed in ``model_extra``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from voxgate.errors import InvalidRequest

__all__ = ["parse_strict", "unknown_fields"]

T = TypeVar("T")

_adapters: dict[Any, TypeAdapter[Any]] = {}

# Extra keys the real server sends although the SDK models don't name them.
TOLERATED_EXTRAS = frozenset({"obfuscation"})


def _adapter(tp: Any) -> TypeAdapter[Any]:
    adapter = _adapters.get(tp)
    if adapter is None:
        adapter = _adapters[tp] = TypeAdapter(tp)
    return adapter


def unknown_fields(value: Any, prefix: str = "") -> Iterator[str]:
    """Yield the dotted path of every key that no official model declares."""
    if isinstance(value, BaseModel):
        for key in value.model_extra or {}:
            if key not in TOLERATED_EXTRAS:
                yield f"{prefix}{key}"
        for name in type(value).model_fields:
            yield from unknown_fields(getattr(value, name), f"{prefix}{name}.")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from unknown_fields(item, f"{prefix.rstrip('.')}[{index}].")


def _loc_to_param(prefix: str, loc: tuple[int | str, ...]) -> str:
    parts: list[str] = [prefix] if prefix else []
    for piece in loc:
        if isinstance(piece, int):
            if parts:
                parts[-1] = f"{parts[-1]}[{piece}]"
            continue
        # pydantic puts union member names (e.g. "realtime", "function-after[...]") in the location.
        if (
            piece in {"realtime", "transcription"}
            or piece[:1].isupper()
            or "[" in piece
            or piece.startswith(("function-", "literal"))
        ):
            continue
        parts.append(piece)
    return ".".join(parts)


def parse_strict(tp: type[T] | Any, data: Any, *, param_prefix: str = "") -> T:
    """Validate ``data`` as the official type ``tp``; reject unknown keys like the real API does.

    Raises :class:`~voxgate.errors.InvalidRequest` with ``param`` set to the dotted path at fault.
    """
    try:
        parsed = _adapter(tp).validate_python(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        param = _loc_to_param(param_prefix, tuple(first["loc"]))
        if first["type"] == "missing":
            raise InvalidRequest(
                f"Missing required parameter: '{param}'.", code="missing_required_parameter", param=param
            ) from None
        raise InvalidRequest(
            f"Invalid value for '{param}': {first['msg']}.", code="invalid_value", param=param
        ) from None
    for path in unknown_fields(parsed, f"{param_prefix}." if param_prefix else ""):
        raise InvalidRequest(f"Unknown parameter: '{path}'.", code="unknown_parameter", param=path)
    return parsed  # type: ignore[no-any-return]
