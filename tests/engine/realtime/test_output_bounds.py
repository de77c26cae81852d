"""What one response may say is bounded, whatever the client sends: speech is synthesized in pieces of
at most ``MAX_PIECE_CHARS`` characters even without punctuation, every response's text stops at
``EngineConfig.max_output_chars`` (and near ``max_output_tokens``), and the echo assistant quotes at most
``ECHO_MAX_WORDS`` words."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from tests.engine.conftest import API_KEY, EngineServer
from tests.engine.realtime_kit import sdk_reader
from voxgate.engine.assistants.capped import CappedResponder, CutDelta
from voxgate.engine.assistants.responder import (
    ECHO_MAX_WORDS,
    EchoResponder,
    FunctionCall,
    ResponderEvent,
    ResponderRequest,
    TextDelta,
)
from voxgate.engine.config import EngineConfig
from voxgate.engine.speech.tts import MAX_PIECE_CHARS, split_text

UNPUNCTUATED = " ".join(f"word{n % 97}" for n in range(5000))


def test_text_without_punctuation_is_split_into_bounded_pieces() -> None:
    pieces = split_text(UNPUNCTUATED)
    assert len(pieces) > 100 and max(len(p) for p in pieces) <= MAX_PIECE_CHARS
    assert " ".join(pieces) == UNPUNCTUATED  # cut between words, nothing lost
    # One "word" with no space at all is cut too.
    giant = "x" * (MAX_PIECE_CHARS * 5)
    assert split_text(giant) == ["x" * MAX_PIECE_CHARS] * 5
    assert max(len(p) for p in split_text(f"Hi. {giant} there, {UNPUNCTUATED}")) <= MAX_PIECE_CHARS
    # Ordinary sentences are unchanged.
    assert split_text("Hi. How are you? Fine!") == ["Hi.", "How are you?", "Fine!"]


class Endless:
    """A responder that never stops talking (one word per delta), and one giant delta first."""

    def __init__(self, first: str = "") -> None:
        self.first = first
        self.closed = False

    async def respond(self, request: ResponderRequest) -> AsyncIterator[ResponderEvent]:
        try:
            if self.first:
                yield TextDelta(self.first)
            yield FunctionCall(name="lookup")
            while True:
                yield TextDelta(" more")
        finally:
            self.closed = True


async def collect(responder: CappedResponder, request: ResponderRequest) -> list[ResponderEvent]:
    return [event async for event in responder.respond(request)]


async def test_the_cap_stops_an_endless_responder_and_closes_it() -> None:
    inner = Endless()
    events = await collect(CappedResponder(inner, 100), ResponderRequest(items=[]))
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert len(text) <= 100 and text.endswith("more") and inner.closed
    assert FunctionCall(name="lookup") in events  # calls are not text: they pass
    # The last delta says the ceiling cut the reply; none before it does.
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert isinstance(deltas[-1], CutDelta) and not any(isinstance(e, CutDelta) for e in deltas[:-1])


async def test_a_reply_under_the_ceiling_is_not_marked_cut() -> None:
    events = await collect(CappedResponder(EchoResponder(), 4000), ResponderRequest(items=[]))
    assert events and not any(isinstance(e, CutDelta) for e in events)


async def test_a_giant_delta_is_cut_at_the_ceiling_and_near_max_output_tokens() -> None:
    capped = CappedResponder(Endless(first="y" * 50_000), 4000)
    events = await collect(capped, ResponderRequest(items=[]))
    assert [len(e.text) for e in events if isinstance(e, TextDelta)] == [4000]
    events = await collect(capped, ResponderRequest(items=[], max_output_tokens=10))
    assert [len(e.text) for e in events if isinstance(e, TextDelta)] == [
        capped.limit(ResponderRequest([], max_output_tokens=10))
    ]
    assert capped.limit(ResponderRequest([], max_output_tokens=10)) < 200


async def test_the_echo_quotes_at_most_its_word_limit() -> None:
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": UNPUNCTUATED}]}
    events = [e async for e in EchoResponder().respond(ResponderRequest(items=[item]))]
    reply = "".join(e.text for e in events if isinstance(e, TextDelta))
    quoted = reply.split('"')[1]
    assert quoted.split(" ")[:ECHO_MAX_WORDS] == UNPUNCTUATED.split(" ")[:ECHO_MAX_WORDS]
    assert quoted.endswith(" …") and len(quoted.split(" ")) == ECHO_MAX_WORDS + 1


async def test_a_session_reply_stops_at_max_output_chars(
    make_server: Callable[..., Awaitable[EngineServer]],
) -> None:
    """Over the wire: the engine's ceiling applies to whatever responder it was given."""
    server = await make_server(
        EngineConfig(api_keys=frozenset({API_KEY}), max_output_chars=120), responder=Endless()
    )
    async with server.client() as sdk, sdk.realtime.connect(model="gpt-realtime") as conn:
        events = sdk_reader(conn)
        await events.expect("session.created")
        await conn.response.create(response={"output_modalities": ["text"]})
        done = (await events.until("response.done"))[-1]["response"]
    texts = [part["text"] for item in done["output"] if item["type"] == "message" for part in item["content"]]
    assert texts and 100 < len(texts[0]) <= 120
    # Cut short by the server's ceiling, the reply is incomplete, as OpenAI's is at max_output_tokens.
    assert done["status"] == "incomplete"
    assert done["status_details"] == {"type": "incomplete", "reason": "max_output_tokens"}
    assert [item["status"] for item in done["output"] if item["type"] == "message"] == ["incomplete"]


async def test_a_reply_under_the_ceiling_completes(
    make_server: Callable[..., Awaitable[EngineServer]],
) -> None:
    server = await make_server(EngineConfig(api_keys=frozenset({API_KEY}), max_output_chars=120))
    async with server.client() as sdk, sdk.realtime.connect(model="gpt-realtime") as conn:
        events = sdk_reader(conn)
        await events.expect("session.created")
        await conn.response.create(response={"output_modalities": ["text"]})
        done = (await events.until("response.done"))[-1]["response"]
    assert done["status"] == "completed" and done["status_details"] is None
    assert [item["status"] for item in done["output"] if item["type"] == "message"] == ["completed"]
