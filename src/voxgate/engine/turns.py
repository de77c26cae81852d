"""The turn detection settings in effect, parsed once per session update (not per VAD window).

A session's ``audio.input.turn_detection`` (a GA dict) becomes a frozen :class:`TurnParams` with the GA
defaults filled in, or None when turn detection is off. The session rebuilds it whenever its config
changes; the turn detector reads the object it is handed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["END_OF_TURN_MS", "TurnParams"]

END_OF_TURN_MS = {"high": 300, "medium": 800, "auto": 800, "low": 1500}


@dataclass(frozen=True, slots=True)
class TurnParams:
    """The turn detection settings in effect, with the GA defaults filled in."""

    mode: str  # "server_vad" or "semantic_vad"
    threshold: float = 0.5
    prefix_padding_ms: int = 300
    end_of_turn_ms: int = 200
    idle_timeout_ms: int | None = None
    create_response: bool = True
    interrupt_response: bool = True

    @property
    def low_threshold(self) -> float:
        """Below this, a window counts as silence once speech has started."""
        return max(self.threshold - 0.15, self.threshold / 2)

    @classmethod
    def from_config(
        cls, turn_detection: Mapping[str, Any] | None, *, responses: bool = True
    ) -> TurnParams | None:
        """Parse a session's ``turn_detection`` (None when off). ``responses=False`` (transcription
        sessions) never creates or interrupts responses."""
        if not turn_detection:
            return None

        def flag(name: str) -> bool:
            return responses and turn_detection.get(name) is not False

        kind = turn_detection.get("type")
        if kind == "semantic_vad":
            eagerness = str(turn_detection.get("eagerness") or "auto")
            return cls(
                mode="semantic_vad",
                end_of_turn_ms=END_OF_TURN_MS.get(eagerness, END_OF_TURN_MS["auto"]),
                create_response=flag("create_response"),
                interrupt_response=flag("interrupt_response"),
            )
        if kind != "server_vad":
            return None

        def number(name: str, default: float) -> float:
            value = turn_detection.get(name)
            return default if value is None else float(value)

        idle = turn_detection.get("idle_timeout_ms")
        return cls(
            mode="server_vad",
            threshold=number("threshold", 0.5),
            prefix_padding_ms=int(number("prefix_padding_ms", 300)),
            end_of_turn_ms=int(number("silence_duration_ms", 200)),
            idle_timeout_ms=int(idle) if idle else None,
            create_response=flag("create_response"),
            interrupt_response=flag("interrupt_response"),
        )
