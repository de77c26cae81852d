"""Sampling of anonymous failures in the audit log.

Every attempt by a known user is audited. Anonymous failures (no or bad credentials) are what an attacker
can send without limit, so each one writing a row would let anyone grow the database at will: of those,
the audit keeps the first per address and outcome in each window and counts the rest, which are reported
with the next row kept (and in the log).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

__all__ = ["AuditSampler"]


@dataclass(slots=True)
class _Window:
    started: float
    suppressed: int = 0


class AuditSampler:
    """Admits one event per key per ``window_s``; remembers at most ``max_keys`` keys (then starts over)."""

    def __init__(self, window_s: float = 60.0, max_keys: int = 10_000) -> None:
        self.window_s = window_s
        self.max_keys = max_keys
        self._windows: dict[tuple[str, ...], _Window] = {}

    def admit(self, key: tuple[str, ...], now: float | None = None) -> tuple[bool, int]:
        """(whether to write this event, how many events of ``key`` were dropped since the last one kept)."""
        now = time.monotonic() if now is None else now
        window = self._windows.get(key)
        if window is not None and now - window.started < self.window_s:
            window.suppressed += 1
            return False, 0
        if window is None and len(self._windows) >= self.max_keys:
            # A flood from many addresses: forget them all rather than grow without bound.
            self._windows.clear()
        dropped = window.suppressed if window is not None else 0
        self._windows[key] = _Window(now)
        return True, dropped
