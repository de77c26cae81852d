"""Turn detection: VAD probabilities → speech started / stopped / idle timeout. Sans-I/O.

It follows the session's ``audio.input.turn_detection`` live (read for every window, so
``session.update`` takes effect at once; ``null`` turns everything automatic off, as push-to-talk
clients want):

* ``server_vad``: speech starts at a window with probability ≥ ``threshold``, once ``min_speech_ms`` of
  such windows (default 64 ms: two Silero windows) confirm it, so a click doesn't interrupt the
  assistant. It goes on while windows stay above a lower bar (hysteresis: ``threshold - 0.15``, but at
  least half the threshold) and ends after ``silence_duration_ms`` below it. ``prefix_padding_ms`` of
  audio before the start goes into the committed turn. ``idle_timeout_ms`` fires when the user stays
  silent that long after the assistant finished (its response done and its audio played).
* ``semantic_vad``: the same detector with the threshold 0.5 and an end-of-turn wait set by
  ``eagerness`` (:data:`END_OF_TURN_MS`): ``high`` 300 ms, ``medium`` and ``auto`` 800 ms, ``low``
  1500 ms. There is no language model judging whether the sentence is complete; a longer wait is the
  offline stand-in for "let the user finish". No idle timeout (the real API has none for it either).

Timestamps are milliseconds of the session's input stream. ``audio_start_ms``/``audio_end_ms`` are the
detected speech edges (where speech begins and where the final silence begins). The SDK's docstrings
say the real server folds the prefix padding and the silence into them; we report the edges because
that is what the words mean to a client placing them on a timeline, and the committed audio still
holds the padding and the silence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from voxgate.engine.turns import END_OF_TURN_MS, TurnParams
from voxgate.engine.voice.frames import (
    Frame,
    IdleTimeoutFrame,
    SpeechStartedFrame,
    SpeechStoppedFrame,
    VadFrame,
)

__all__ = ["END_OF_TURN_MS", "TurnDetector", "TurnParams"]


class TurnDetector:
    """The turn state machine as a processor of :class:`VadFrame`.

    ``params`` gives the settings in effect (called per window); ``busy`` says whether the assistant is
    responding or still playing audio (for the idle timeout). :meth:`update` is the pure core.
    """

    def __init__(
        self,
        params: Callable[[], TurnParams | None],
        *,
        busy: Callable[[], bool] = lambda: False,
        min_speech_ms: float = 64.0,
    ) -> None:
        self._params = params
        self._busy = busy
        self.min_speech_ms = min_speech_ms
        self._candidate: float | None = None  # start of possible speech, not confirmed yet
        self._voiced_ms = 0.0
        self._speech_start: float | None = None  # start of confirmed speech
        self._last_voice = 0.0  # end of the last window above the low threshold
        self._last_speech = 0.0  # end of the last window above the threshold (the reported edge)
        self._idle_since: float | None = None
        self._was_busy = False

    @property
    def in_speech(self) -> bool:
        """True between speech started and speech stopped."""
        return self._speech_start is not None

    def keep_from_ms(self, now_ms: float, params: TurnParams) -> float:
        """The earliest input time a coming commit may still need (older audio can be discarded)."""
        starts = [now_ms, self._candidate, self._speech_start, self._idle_since]
        return min(s for s in starts if s is not None) - params.prefix_padding_ms

    def process(self, frame: Frame) -> Iterable[Frame]:
        """Turn decisions for a VAD window; other frames pass through."""
        if not isinstance(frame, VadFrame):
            return [frame]
        return self.update(self._params(), frame.probability, frame.start_ms, frame.end_ms, self._busy())

    def update(
        self, params: TurnParams | None, probability: float, start_ms: float, end_ms: float, busy: bool
    ) -> list[Frame]:
        """Advance by one window ``[start_ms, end_ms)`` scored ``probability``; return the decisions."""
        if params is None:
            self._candidate = self._speech_start = self._idle_since = None
            self._was_busy = busy
            return []
        out: list[Frame] = []
        if self._speech_start is None:
            out += self._quiet(params, probability, start_ms, end_ms)
        else:
            out += self._speaking(params, probability, end_ms)
        out += self._idle(params, busy, start_ms, end_ms)
        return out

    def _quiet(self, params: TurnParams, probability: float, start_ms: float, end_ms: float) -> list[Frame]:
        if probability < params.threshold:
            if probability < params.low_threshold:
                self._candidate = None  # a blip, not the start of speech
            return []
        if self._candidate is None:
            self._candidate, self._voiced_ms = start_ms, 0.0
        self._voiced_ms += end_ms - start_ms
        if self._voiced_ms < self.min_speech_ms:
            return []
        self._speech_start, self._candidate = self._candidate, None
        self._last_voice = self._last_speech = end_ms
        self._idle_since = None
        return [SpeechStartedFrame(round(self._speech_start), at_ms=end_ms)]

    def _speaking(self, params: TurnParams, probability: float, end_ms: float) -> list[Frame]:
        assert self._speech_start is not None
        if probability >= params.threshold:
            self._last_speech = end_ms
        if probability >= params.low_threshold:
            self._last_voice = end_ms
            return []
        if end_ms - self._last_voice < params.end_of_turn_ms:
            return []
        start, self._speech_start = self._speech_start, None
        return [SpeechStoppedFrame(round(start), round(self._last_speech), at_ms=end_ms)]

    def _idle(self, params: TurnParams, busy: bool, start_ms: float, end_ms: float) -> list[Frame]:
        was_busy, self._was_busy = self._was_busy, busy
        if not params.idle_timeout_ms or params.mode != "server_vad" or busy or self.in_speech:
            self._idle_since = None
            return []
        if was_busy:  # the assistant just finished: the user's silence is counted from here
            self._idle_since = start_ms
        if self._idle_since is None or end_ms - self._idle_since < params.idle_timeout_ms:
            return []
        since, self._idle_since = self._idle_since, None
        return [IdleTimeoutFrame(round(since), round(end_ms))]
