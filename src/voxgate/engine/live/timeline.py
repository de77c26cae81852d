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

__all__ = ["Standby", "Timeline"]


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


class Standby:
    """Idle pauses of a WebRTC session (``idle_timeout_s`` with a speech ``wake_policy``).

    After ``timeout_s`` of session time without speech or a reply the session pauses (billed as paused
    time); speech wakes it. Without a timeout it never pauses.
    """

    def __init__(self, timeout_s: int | None) -> None:
        self._timeout_ms = timeout_s * 1000 if timeout_s is not None else None
        self.paused = False
        self._active_at = 0.0

    def update(self, now_ms: float, *, busy: bool) -> bool:
        """The timeline is at ``now_ms`` (``busy``: someone speaks); True when the session pauses now."""
        if busy:
            self._active_at = now_ms
        if self._timeout_ms is None or self.paused or now_ms - self._active_at < self._timeout_ms:
            return False
        self.paused = True
        return True

    def wake(self, now_ms: float) -> bool:
        """Speech at ``now_ms``; True when it ends a pause."""
        self._active_at = now_ms
        was, self.paused = self.paused, False
        return was
