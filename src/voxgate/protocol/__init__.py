"""GA Realtime protocol types: parsed once at the boundary, strictly."""

from voxgate.protocol.strict import parse_strict, unknown_fields

__all__ = ["parse_strict", "unknown_fields"]
