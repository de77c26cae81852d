"""A ceiling on what one response may say, whatever writes it: :class:`CappedResponder`.

Every character a responder yields is spoken, and the speech kept in the conversation (about 3 kB of
audio per character), so a responder that never stops, or a ``max_output_tokens`` the client leaves at
``"inf"``, must not turn into unbounded audio. The engine wraps its responder in this once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from voxgate.engine.ports import Responder, ResponderEvent, ResponderRequest, TextDelta

__all__ = ["CHARS_PER_TOKEN", "CappedResponder", "CutDelta"]

# OpenAI's rule of thumb for English; the engine's own token estimate is close to it.
CHARS_PER_TOKEN = 4
# The response itself stops at the delta that reaches max_output_tokens (by the engine's exact count);
# this cap only keeps one delta far over the budget (a 30,000-letter "word") from being spoken whole.
TOKEN_SLACK_CHARS = 64


@dataclass(frozen=True, slots=True)
class CutDelta(TextDelta):
    """The last text of a reply the ceiling cut short: nothing follows it.

    A :class:`TextDelta` to every consumer, so it is spoken like any other; a protocol that reports why a
    reply ended (GA Realtime's ``incomplete`` with reason ``max_output_tokens``) can tell a cut reply
    from one that simply ended.
    """


class CappedResponder:
    """``inner``'s events, with the text of one response cut at ``max_chars`` characters, and a little
    past ``max_output_tokens`` worth of characters when the request sets it.

    The text is cut where the limit falls (between words when there is a space in the last 40
    characters) and sent as a :class:`CutDelta`; the stream then ends, which also stops a responder
    that would go on forever. Function calls pass unchanged: their arguments are not spoken.
    """

    def __init__(self, inner: Responder, max_chars: int) -> None:
        if max_chars < 1:
            raise ValueError("max_chars must be at least 1")
        self.inner = inner
        self.max_chars = max_chars

    def limit(self, request: ResponderRequest) -> int:
        """The most characters of text ``request`` may produce."""
        tokens = request.max_output_tokens
        if tokens is None or tokens < 1:
            return self.max_chars
        return min(self.max_chars, tokens * CHARS_PER_TOKEN + TOKEN_SLACK_CHARS)

    async def respond(self, request: ResponderRequest) -> AsyncIterator[ResponderEvent]:
        """Stream ``inner``'s reply to ``request`` up to the limit."""
        left = self.limit(request)
        stream = self.inner.respond(request)
        try:
            async for event in stream:
                if not isinstance(event, TextDelta):
                    yield event
                    continue
                if len(event.text) < left:
                    left -= len(event.text)
                    yield event
                    continue
                # Never empty: left >= 1 here and the cut keeps at least the first character.
                yield CutDelta(_cut(event.text, left))
                return
        finally:
            # Ends the inner generator now (its HTTP stream, say) rather than whenever it is collected.
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()


def _cut(text: str, limit: int) -> str:
    """The first ``limit`` characters of ``text``, shortened to the last space when one is near."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    space = head.rfind(" ")
    return head[:space] if space >= max(0, limit - 40) and head[:space].strip() else head
