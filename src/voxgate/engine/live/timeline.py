"""The session clock of a Live session and the usage it bills (reference §2 and §8).

The timeline advances only while input audio arrives (a client that stops sending frames stalls it), so
it is counted from the input audio itself: every ``*_ms`` of the session's events is a position on it.
Usage is cumulative whole seconds; a WebRTC session also reports the split between active time and time
paused by its idle timeout (they add up to ``seconds``). ``session.usage.updated`` is due each time the
timeline passes another ``interval_ms``.

The 15 s charged when a WebRTC session is created (and credited against its duration) is not added
here: the usage reports the session's own time, as the [?] in reference §11 allows; a gateway tops a
short session up to the creation charge itself.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Timeline"]


class Timeline:
    """Session time in milliseconds of input audio, split into active and paused."""

    def __init__(self, *, interval_ms: float, breakdown: bool) -> None:
        self.ms = 0.0
        self.paused_ms = 0.0
        self._interval = interval_ms
        self._breakdown = breakdown
        self._reported = 0  # usage intervals already reported

    def advance(self, ms: float, *, paused: bool) -> bool:
        """Add ``ms`` of session time; True when a usage update is now due."""
        self.ms += ms
        if paused:
            self.paused_ms += ms
        due = int(self.ms // self._interval)
        if due > self._reported:
            self._reported = due
            return True
        return False

    @property
    def now_ms(self) -> int:
        """The current position, whole milliseconds."""
        return int(self.ms)

    def usage(self) -> dict[str, Any]:
        """The cumulative ``SessionUsage``."""
        paused = int(self.paused_ms // 1000)
        active = int((self.ms - self.paused_ms) // 1000)
        if not self._breakdown:
            return {"seconds": int(self.ms // 1000)}
        return {"seconds": active + paused, "active_seconds": active, "paused_seconds": paused}
