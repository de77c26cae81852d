"""What writes the assistant's words: the built-in ``EchoResponder`` (the ``Responder`` protocol and its
types live in :mod:`voxgate.engine.ports`; they are re-exported here for responders' authors).

A responder turns (conversation items, instructions, tools) into a stream of :class:`TextDelta` and
:class:`FunctionCall`. The engine turns that stream into the GA event sequence (text or audio), so a
responder knows nothing about the protocol. Function calls follow the GA flow: the engine emits a
``function_call`` item; the client answers with a ``function_call_output`` item and ``response.create``,
and the responder sees both items in the next request.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from voxgate.engine.ports import FunctionCall, Responder, ResponderEvent, ResponderRequest, TextDelta

__all__ = [
    "ECHO_MAX_WORDS",
    "EchoResponder",
    "FunctionCall",
    "Responder",
    "ResponderEvent",
    "ResponderRequest",
    "TextDelta",
]


# The echo quotes at most this many words of a turn: a demo that read back a whole pasted book would
# hold the synthesizer (and the conversation's audio) for half an hour.
ECHO_MAX_WORDS = 50


def _untranscribed(item: dict[str, Any]) -> bool:
    """True for a user item holding audio whose words nobody knows (no recognizer ran on it)."""
    return any(
        part.get("type") == "input_audio" and part.get("transcript") is None
        for part in item.get("content") or []
    )


def _user_words(item: dict[str, Any]) -> str:
    texts = []
    for part in item.get("content") or []:
        if part.get("type") == "input_text" and part.get("text"):
            texts.append(part["text"])
        elif part.get("type") == "input_audio" and part.get("transcript"):
            texts.append(part["transcript"])
    words = " ".join(" ".join(texts).split())
    # "." or "…" (what a recognizer may make of silence) is no words at all.
    return words if any(char.isalnum() for char in words) else ""


class EchoResponder:
    """A deterministic test/demo assistant: it repeats what the user said. It is not a language model.

    * last item a ``function_call_output`` → ``The <name> tool returned: <output>.``
    * user words naming a function tool (or ``tool_choice`` forcing one) → a call of that tool with
      arguments ``{"text": <words>}``
    * otherwise → ``You said: "<words>". I am the voxgate echo assistant.``, with the latest user words
      not answered yet (those since the last assistant message: a last turn without any, like a noise,
      does not hide an unanswered one before it), the first :data:`ECHO_MAX_WORDS` of them;
    * no unanswered words: a short prompt to speak when the conversation is empty, or holds only audio
      whose words are unknown (no transcription); nothing at all after an empty turn (silence, a
      transcript with no words), which is never answered with words an earlier reply already answered

    Text is streamed word by word so cancellation and streaming paths are exercised.
    """

    async def respond(self, request: ResponderRequest) -> AsyncIterator[ResponderEvent]:
        """Stream the echo reply for ``request`` (see the class docstring for the rules)."""
        items = list(request.items)
        last = items[-1] if items else {}
        if last.get("type") == "function_call_output":
            name = next(
                (i.get("name", "") for i in items if i.get("call_id") == last.get("call_id")), "function"
            )
            reply = f"The {name} tool returned: {last.get('output', '')}."
        else:
            # This turn: everything since the last assistant message, i.e. what is not answered yet.
            start = next(
                (n + 1 for n in range(len(items) - 1, -1, -1) if items[n].get("role") == "assistant"), 0
            )
            turn = [i for i in items[start:] if i.get("role") == "user"]
            # The latest words of the turn: a last part with none (a noise) does not hide the one before it.
            words = next((w for w in map(_user_words, reversed(turn)) if w), "")
            tool = self._chosen_tool(request, words)
            if tool is not None:
                yield FunctionCall(name=tool, arguments=json.dumps({"text": words}))
                return
            if words:
                quoted = words.split(" ")
                shown = " ".join(quoted[:ECHO_MAX_WORDS]) + (" …" if len(quoted) > ECHO_MAX_WORDS else "")
                reply = f'You said: "{shown}". I am the voxgate echo assistant.'
            elif (start == 0 and not turn) or any(_untranscribed(i) for i in turn):
                reply = "I am listening. Please say something."
            else:
                return  # an empty turn: nothing was said, so nothing is answered
        for index, word in enumerate(reply.split(" ")):
            # Yield to the loop between words, like a real token stream, so a cancel can land mid-reply.
            await asyncio.sleep(0)
            yield TextDelta(word if index == 0 else f" {word}")

    @staticmethod
    def _chosen_tool(request: ResponderRequest, words: str) -> str | None:
        choice = request.tool_choice
        names = [
            str(t["name"]) for t in request.tools if t.get("type", "function") == "function" and t.get("name")
        ]
        if choice == "none" or not names:
            return None
        if isinstance(choice, dict) and choice.get("type") == "function":
            return str(choice.get("name")) if choice.get("name") in names else None
        lowered = words.lower()
        mentioned = [name for name in names if name.lower() in lowered]
        if mentioned:
            return mentioned[0]
        return names[0] if choice == "required" else None
