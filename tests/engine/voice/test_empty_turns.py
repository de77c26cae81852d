"""An empty turn is not answered with the words of an earlier one: the echo assistant answers what was
said in this turn, or nothing. Push-to-talk (the client commits and asks for a response) and server
VAD, with a loudness "VAD" and a scripted recognizer (see test_voice_observer)."""

from __future__ import annotations

import base64
import json
from typing import Any

from tests.engine.voice.test_voice_observer import ScriptedRecognizer, open_session, silence, speech
from voxgate.engine.assistants.responder import EchoResponder, ResponderRequest, TextDelta
from voxgate.engine.realtime.realtime_session import RealtimeSession


def user(text: str | None, kind: str = "input_audio") -> dict[str, Any]:
    part = {"type": kind, "transcript": text} if kind == "input_audio" else {"type": kind, "text": text}
    return {"type": "message", "role": "user", "content": [part]}


ANSWER = {"type": "message", "role": "assistant", "content": [{"type": "output_audio", "transcript": "ok"}]}


async def echo(*items: dict[str, Any]) -> str:
    events = [e async for e in EchoResponder().respond(ResponderRequest(items=list(items)))]
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def test_the_echo_answers_only_this_turns_words() -> None:
    assert (await echo(user("hello"))).startswith('You said: "hello"')
    # An empty turn after an answered one: nothing, not "hello" again.
    assert await echo(user("hello"), ANSWER, user("")) == ""
    assert await echo(user("hello"), ANSWER, user(" . ")) == ""  # no word in it
    assert await echo(user("hello"), ANSWER) == ""  # a second response.create with nothing new
    # Words not answered yet are, even when a noise came after them.
    assert (await echo(user("hello"), ANSWER, user("stop"), user(""))).startswith('You said: "stop"')
    # Nothing said at all yet, or audio nobody transcribed: a prompt to speak.
    assert await echo() == "I am listening. Please say something."
    assert await echo(user("hello"), ANSWER, user(None)) == "I am listening. Please say something."


async def send(session: RealtimeSession, event: dict[str, Any]) -> None:
    await session.handle_message(json.dumps(event))


async def push_to_talk(session: RealtimeSession, audio: bytes) -> None:
    await send(session, {"type": "input_audio_buffer.append", "audio": base64.b64encode(audio).decode()})
    await send(session, {"type": "input_audio_buffer.commit"})
    await send(session, {"type": "response.create"})


def reply_text(done: dict[str, Any]) -> list[str]:
    return [p["text"] for i in done["response"]["output"] if i["type"] == "message" for p in i["content"]]


async def test_push_to_talk_silence_is_not_answered_with_the_previous_words() -> None:
    recognizer = ScriptedRecognizer(texts=("hello there", "", "."))
    session, events = await open_session(recognizer, audio={"input": {"turn_detection": None}})
    try:
        await push_to_talk(session, speech(600))
        done = (await events.until("response.done"))[-1]
        assert reply_text(done) == ['You said: "hello there". I am the voxgate echo assistant.']
        for _ in range(2):  # silence, then a transcript with no word in it
            await push_to_talk(session, silence(600))
            done = (await events.until("response.done"))[-1]
            assert done["response"]["status"] == "completed" and done["response"]["output"] == []
        assert len(recognizer.calls) == 3
    finally:
        await session.aclose()


async def test_a_server_vad_turn_without_words_gets_no_response() -> None:
    recognizer = ScriptedRecognizer(texts=("hello there", "..."))
    session, events = await open_session(recognizer)
    try:
        session.feed_input_audio(silence(300) + speech(600) + silence(400))
        done = (await events.until("response.done"))[-1]
        assert reply_text(done) == ['You said: "hello there". I am the voxgate echo assistant.']
        await events.expect("rate_limits.updated")
        session.feed_input_audio(speech(300) + silence(400))  # a cough the recognizer makes "..." of
        await events.until("conversation.item.done")
        while len(recognizer.calls) < 2:
            await events.nothing(0.05)
        await events.nothing(0.5)  # no response.created
    finally:
        await session.aclose()
