"""The GA reference's own ``response.done`` usage example (openai-realtime-ga.md §5.1), shared by the tests
that price, record or export it: every cached token in it is audio."""

from __future__ import annotations

from typing import Any

REFERENCE_USAGE: dict[str, Any] = {
    "total_tokens": 320,
    "input_tokens": 132,
    "output_tokens": 188,
    "input_token_details": {
        "text_tokens": 59,
        "audio_tokens": 73,
        "image_tokens": 0,
        "cached_tokens": 64,
        "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 64, "image_tokens": 0},
    },
    "output_token_details": {"text_tokens": 41, "audio_tokens": 147},
}
