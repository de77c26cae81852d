"""Sans-I/O pieces: keys, conversation, input buffer, usage, client-event parsing, the echo responder."""

from __future__ import annotations

import base64
import json

import pytest

from voxgate.engine.assistants.responder import EchoResponder, FunctionCall, ResponderRequest, TextDelta
from voxgate.engine.realtime.client_events import ClientEventError, parse_client_event
from voxgate.engine.realtime.conversation import Conversation
from voxgate.engine.realtime.input_buffer import InputAudioBuffer, bytes_per_ms
from voxgate.engine.realtime.usage import RateWindow, count_text_tokens, item_tokens, usage
from voxgate.engine.server.keys import KeyStore, bearer_token, mask_key
from voxgate.errors import AuthenticationFailed, InvalidRequest


def test_keys_expire_but_serve_many_sessions() -> None:
    now = [1000.0]
    store = KeyStore(["sk-standard-key-123"], clock=lambda: now[0])
    assert store.authenticate("sk-standard-key-123").kind == "standard"
    key = store.mint({"type": "realtime", "instructions": "x"}, 10)
    assert key.value.startswith("ek_") and key.expires_at == 1010
    for _ in range(3):
        assert store.authenticate(key.value).session == {"type": "realtime", "instructions": "x"}
    with pytest.raises(AuthenticationFailed):
        store.authenticate(key.value, allow_ephemeral=False)
    now[0] = 1010.0
    with pytest.raises(AuthenticationFailed) as caught:
        store.authenticate(key.value)
    assert caught.value.status_code == 401 and key.value not in caught.value.message
    store.mint({}, 600)  # minting sweeps the expired secret away
    with pytest.raises(AuthenticationFailed, match="Incorrect API key"):
        store.authenticate(key.value)
    with pytest.raises(AuthenticationFailed) as missing:
        store.authenticate(None)
    assert missing.value.code == "missing_api_key"


def test_bearer_and_mask() -> None:
    assert bearer_token({"authorization": "Bearer abc"}) == "abc"
    assert bearer_token({"authorization": "Basic abc"}) is None
    assert bearer_token({}) is None
    assert mask_key("sk-1234567890abcdef") == "sk-1********cdef"


def test_conversation_order_truncate_delete() -> None:
    conv = Conversation()
    assert conv.insert({"id": "a", "type": "message", "role": "user", "content": []}) is None
    assert conv.insert({"id": "b", "type": "message", "role": "user", "content": []}) == "a"
    assert conv.insert({"id": "c", "type": "message", "role": "user", "content": []}, "root") is None
    assert conv.insert({"id": "d", "type": "message", "role": "user", "content": []}, "c") == "c"
    assert [i["id"] for i in conv.items()] == ["c", "d", "a", "b"]
    with pytest.raises(InvalidRequest) as dup:
        conv.insert({"id": "a", "type": "message", "role": "user", "content": []})
    assert dup.value.code == "item_already_exists"
    with pytest.raises(InvalidRequest):
        conv.insert({"type": "message", "role": "user", "content": []}, "zzz")

    said = {
        "id": "s",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_audio", "transcript": "hi"}],
    }
    conv.insert(said)
    conv.set_audio("s", bytes(48 * 500))
    with pytest.raises(InvalidRequest, match="already shorter"):
        conv.truncate("s", 0, 600)
    conv.truncate("s", 0, 200)
    assert conv.audio_ms("s") == 200 and conv.get("s")["content"][0]["transcript"] == ""
    with pytest.raises(InvalidRequest):
        conv.truncate("a", 0, 0)  # not an assistant audio item
    conv.delete("s")
    assert "s" not in conv and conv.audio_ms("s") == 0

    pcm = bytes(range(256)) * 10
    client = {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_audio", "audio": base64.b64encode(pcm).decode()}],
    }
    conv.insert({**client, "id": "u"})
    assert conv.items()[-1]["content"] == [{"type": "input_audio", "transcript": None}]
    assert base64.b64decode(conv.get("u")["content"][0]["audio"]) == pcm


def test_input_buffer_limits() -> None:
    buf = InputAudioBuffer(max_append_bytes=1000, max_bytes=4000)
    with pytest.raises(InvalidRequest) as small:
        buf.commit(48)
    assert small.value.code == "input_audio_buffer_commit_empty"
    with pytest.raises(InvalidRequest) as big:
        buf.append_base64(base64.b64encode(bytes(1002)).decode())
    assert big.value.param == "audio" and len(buf) == 0
    for _ in range(5):
        buf.append_base64(base64.b64encode(bytes(1000)).decode())
    assert len(buf) == 4000 and buf.total_bytes == 5000  # capped, oldest dropped
    assert len(buf.commit(8)) == 4000 and len(buf) == 0
    assert bytes_per_ms({"type": "audio/pcmu"}) == 8 and bytes_per_ms(None) == 48


def test_token_estimates() -> None:
    assert count_text_tokens("") == 0
    assert count_text_tokens("hello") == 2  # ceil(5/4)
    assert count_text_tokens("Hi, you!") == 4  # Hi , you !
    user = {"role": "user", "content": [{"type": "input_text", "text": "hello"}]}
    assert item_tokens(user, 0) == (4 + 2, 0)
    spoken = {"role": "user", "content": [{"type": "input_audio", "transcript": "ignored"}]}
    assert item_tokens(spoken, 1000) == (4, 10)  # 1 token per 100 ms of user audio
    said = {"role": "assistant", "content": [{"type": "output_audio", "transcript": "x"}]}
    assert item_tokens(said, 1000) == (4, 20)  # 1 token per 50 ms of assistant audio
    used = usage(instructions="Be brief.", inputs=[(6, 0), (4, 10)], output_text="Okay.", output_audio_ms=500)
    assert used["input_tokens"] == 4 + 4 + 6 + 4 + 10 and used["output_tokens"] == 2 + 10
    assert used["total_tokens"] == used["input_tokens"] + used["output_tokens"]
    window = RateWindow(100, clock=lambda: 0.0)
    assert window.spend(30) == (70, 60.0) and window.spend(90)[0] == 0


@pytest.mark.parametrize(
    ("raw", "code", "param"),
    [
        ("[1]", "invalid_event", None),
        ('{"type": 3}', "invalid_value", "type"),
        (
            '{"type": "response.create", "response": {"modalities": ["text"]}}',
            "unknown_parameter",
            "response.modalities",
        ),
        ('{"type": "conversation.item.truncate", "item_id": "x"}', "missing_required_parameter", None),
        ('{"type": "input_audio_buffer.append"}', "missing_required_parameter", "audio"),
    ],
)
def test_client_event_refusals(raw: str, code: str, param: str | None) -> None:
    with pytest.raises(ClientEventError) as caught:
        parse_client_event(raw)
    assert caught.value.code == code
    if param is not None:
        assert caught.value.param == param


def test_client_event_payload_keeps_references() -> None:
    event = parse_client_event(
        json.dumps(
            {
                "type": "response.create",
                "response": {
                    "conversation": "none",
                    "input": [
                        {"type": "item_reference", "id": "item_1"},
                        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "x"}]},
                    ],
                },
            }
        )
    )
    assert [i["type"] for i in event.payload["response"]["input"]] == ["item_reference", "message"]
    with pytest.raises(ClientEventError) as caught:
        parse_client_event('{"type": "response.create", "response": {"input": [{"type": "item_reference"}]}}')
    assert caught.value.param == "response.input[0].id"


async def collect(request: ResponderRequest) -> list[TextDelta | FunctionCall]:
    return [event async for event in EchoResponder().respond(request)]


async def test_echo_responder_rules() -> None:
    user = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": " hi   there "}]}
    text = "".join(e.text for e in await collect(ResponderRequest(items=[user])) if isinstance(e, TextDelta))
    assert text == 'You said: "hi there". I am the voxgate echo assistant.'
    assert "listening" in "".join(
        e.text for e in await collect(ResponderRequest(items=[])) if isinstance(e, TextDelta)
    )
    tools = [{"type": "function", "name": "lookup"}]
    forced = await collect(ResponderRequest(items=[user], tools=tools, tool_choice="required"))
    assert forced == [FunctionCall(name="lookup", arguments='{"text": "hi there"}')]
    assert all(
        isinstance(e, TextDelta)
        for e in await collect(ResponderRequest(items=[user], tools=tools, tool_choice="none"))
    )
    call = {"type": "function_call", "name": "lookup", "call_id": "c1", "arguments": "{}"}
    output = {"type": "function_call_output", "call_id": "c1", "output": "42"}
    reply = await collect(ResponderRequest(items=[user, call, output], tools=tools))
    assert "".join(e.text for e in reply if isinstance(e, TextDelta)) == "The lookup tool returned: 42."
