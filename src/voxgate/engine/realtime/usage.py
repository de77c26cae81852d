"""Token accounting for ``response.done.response.usage`` (reference §5.1) and ``rate_limits.updated``.

The engine runs no tokenizer, so text tokens are *estimated*, deterministically:

* the text is split into words (runs of letters/digits/underscore) and single other non-space
  characters; a word costs ``ceil(len(word) / 4)`` tokens and every other character costs 1. That tracks
  OpenAI's BPE vocabularies (≈4 characters of English per token) within a few percent on prose;
* audio is counted by duration, as OpenAI bills it: user audio 1 token per 100 ms, assistant audio
  1 token per 50 ms (S6 realtime-costs);
* every item in the input costs :data:`ITEM_OVERHEAD` extra tokens of message framing, and the
  instructions count as one more item. The whole input (instructions + conversation) is counted again for
  every response, because the model re-reads it each turn. Nothing is cached, so ``cached_tokens`` is 0.
"""

from __future__ import annotations

import math
import re
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["ITEM_OVERHEAD", "RateWindow", "audio_tokens", "count_text_tokens", "item_tokens", "usage"]

ITEM_OVERHEAD = 4
_PIECES = re.compile(r"\w+|[^\w\s]")


def count_text_tokens(text: str) -> int:
    """Estimated tokens of ``text`` (see the module docstring for the method)."""
    return sum(math.ceil(len(p) / 4) if p[0].isalnum() or p[0] == "_" else 1 for p in _PIECES.findall(text))


def audio_tokens(ms: int, *, assistant: bool) -> int:
    """Tokens of ``ms`` milliseconds of audio: 1 per 50 ms for the assistant, 1 per 100 ms for the user."""
    return math.ceil(ms / (50 if assistant else 100))


def item_tokens(item: dict[str, Any], audio_ms: int) -> tuple[int, int]:
    """(text tokens, audio tokens) one conversation item adds to a response's input."""
    text = ITEM_OVERHEAD
    for key in ("name", "arguments", "output"):
        if isinstance(item.get(key), str):
            text += count_text_tokens(item[key])
    has_audio = False
    for part in item.get("content") or []:
        has_audio |= part.get("type") in ("input_audio", "output_audio")
        for key in ("text", "transcript"):
            # An audio part's transcript is not model input (the audio is), so only count plain text.
            if isinstance(part.get(key), str) and part.get("type") not in ("input_audio", "output_audio"):
                text += count_text_tokens(part[key])
    audio = audio_tokens(audio_ms, assistant=item.get("role") == "assistant") if has_audio else 0
    return text, audio


def usage(
    *, instructions: str, inputs: Iterable[tuple[int, int]], output_text: str, output_audio_ms: int
) -> dict[str, Any]:
    """The GA usage object for one response; ``inputs`` are :func:`item_tokens` results."""
    in_text = ITEM_OVERHEAD + count_text_tokens(instructions)
    in_audio = 0
    for text, audio in inputs:
        in_text += text
        in_audio += audio
    out_text = count_text_tokens(output_text)
    out_audio = audio_tokens(output_audio_ms, assistant=True)
    return {
        "total_tokens": in_text + in_audio + out_text + out_audio,
        "input_tokens": in_text + in_audio,
        "output_tokens": out_text + out_audio,
        "input_token_details": {
            "text_tokens": in_text,
            "audio_tokens": in_audio,
            "image_tokens": 0,
            "cached_tokens": 0,
            "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
        },
        "output_token_details": {"text_tokens": out_text, "audio_tokens": out_audio},
    }


class RateWindow:
    """Tokens used in the last minute, for the informational ``rate_limits.updated`` event."""

    def __init__(self, limit: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._used: deque[tuple[float, int]] = deque()

    def spend(self, tokens: int) -> tuple[int, float]:
        """Record ``tokens``; return (remaining this minute, seconds until the oldest use expires)."""
        now = self._clock()
        self._used.append((now, tokens))
        while self._used and self._used[0][0] <= now - 60.0:
            self._used.popleft()
        remaining = max(0, self.limit - sum(t for _, t in self._used))
        return remaining, max(0.0, self._used[0][0] + 60.0 - now)
