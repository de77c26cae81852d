"""The session policy and strict GA parsing (pure core)."""

from __future__ import annotations

import pytest
from openai.types.realtime import RealtimeSessionCreateRequest

from voxgate.core.credentials import digest, issue, looks_like_api_key, safety_identifier
from voxgate.core.policy import SessionPolicy, clamp_ttl
from voxgate.errors import InvalidRequest
from voxgate.protocol.strict import parse_strict

POLICY = SessionPolicy(
    model="gpt-realtime-2.1",
    instructions="Be brief.",
    voice="marin",
    allowed_voices=("marin", "cedar"),
    turn_detection={"type": "server_vad", "silence_duration_ms": 200},
    transcription_model="gpt-4o-mini-transcribe",
    allowed_languages=("en", "es"),
    client_overrides=("audio.output.voice", "audio.input.transcription.language"),
)


def test_base_session_is_valid_ga() -> None:
    session = POLICY.build(None)
    parsed = parse_strict(RealtimeSessionCreateRequest, session)
    assert parsed.type == "realtime"
    assert session["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert session["audio"]["input"]["transcription"] == {"model": "gpt-4o-mini-transcribe"}
    assert "voice" not in session and "modalities" not in session and "temperature" not in session


def test_language_auto_removes_the_language() -> None:
    session = POLICY.build({"audio": {"input": {"transcription": {"language": "auto"}}}})
    assert session["audio"]["input"]["transcription"] == {"model": "gpt-4o-mini-transcribe"}


def test_language_outside_the_allow_list() -> None:
    with pytest.raises(InvalidRequest) as caught:
        POLICY.build({"audio": {"input": {"transcription": {"language": "fr"}}}})
    assert caught.value.param == "session.audio.input.transcription.language"


def test_language_when_transcription_is_off() -> None:
    policy = SessionPolicy(
        model="m",
        instructions="",
        voice="marin",
        allowed_voices=("marin",),
        client_overrides=("audio.input.transcription.language",),
    )
    with pytest.raises(InvalidRequest, match="turned off"):
        policy.build({"audio": {"input": {"transcription": {"language": "en"}}}})


def test_policy_can_allow_whole_subtrees_and_still_validates_them() -> None:
    policy = SessionPolicy(
        model="m",
        instructions="",
        voice="marin",
        allowed_voices=("marin",),
        client_overrides=("audio.output",),
    )
    assert policy.build({"audio": {"output": {"speed": 1.2}}})["audio"]["output"]["speed"] == 1.2
    with pytest.raises(InvalidRequest) as caught:
        policy.build({"audio": {"output": {"pitch": 2}}})
    assert caught.value.code == "unknown_parameter"
    assert caught.value.param == "session.audio.output.pitch"


@pytest.mark.parametrize(
    ("data", "param", "code"),
    [
        ({"type": "realtime", "voice": "x"}, "session.voice", "unknown_parameter"),
        ({"type": "realtime", "modalities": ["text"]}, "session.modalities", "unknown_parameter"),
        ({"type": "realtime", "temperature": 0.8}, "session.temperature", "unknown_parameter"),
        ({"model": "gpt-realtime"}, "session.type", "missing_required_parameter"),
        (
            {"type": "realtime", "tools": [{"type": "function", "name": "f", "x": 1}]},
            "session.tools[0].x",
            "unknown_parameter",
        ),
        (
            {
                "type": "realtime",
                "audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": "hi"}}},
            },
            "session.audio.input.turn_detection.threshold",
            "invalid_value",
        ),
    ],
)
def test_strict_parse_names_the_parameter(data: dict[str, object], param: str, code: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_strict(RealtimeSessionCreateRequest, data, param_prefix="session")
    assert (caught.value.param, caught.value.code) == (param, code)


@pytest.mark.parametrize(
    ("requested", "default", "maximum", "expected"),
    [
        (None, 300, 600, 300),
        (5, 300, 600, 10),
        (601, 300, 600, 600),
        (9000, 300, 9000, 7200),
        (100, 300, 50, 50),
    ],
)
def test_clamp_ttl(requested: int | None, default: int, maximum: int, expected: int) -> None:
    assert clamp_ttl(requested, default=default, maximum=maximum) == expected


def test_credentials() -> None:
    secret = issue("vg_")
    assert looks_like_api_key(secret.value)
    assert secret.digest == digest(secret.value) and len(secret.digest) == 64
    assert secret.value not in secret.digest
    assert not looks_like_api_key("eyJhbGciOi.x.y")
    assert safety_identifier(7) == safety_identifier("7") != safety_identifier(8)
    assert safety_identifier(7) != "7"
    assert len(safety_identifier(7)) == 32
