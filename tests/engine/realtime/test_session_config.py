"""Session configs: GA defaults, strict parsing, update semantics, layering of key and engine defaults."""

from __future__ import annotations

import pytest

from tests.engine.realtime_kit import check_session_echo
from voxgate.engine.config import EngineConfig
from voxgate.engine.realtime.session_config import (
    apply_update,
    default_session,
    echo_session,
    parse_session_request,
)
from voxgate.engine.server.engine import Engine
from voxgate.engine.server.keys import Credential
from voxgate.errors import InvalidRequest


def test_defaults_echo_validates_strictly() -> None:
    for kind in ("realtime", "transcription"):
        check_session_echo(
            echo_session(default_session(kind, "gpt-realtime"), session_id="sess_1", expires_at=9)
        )


def test_parse_keeps_only_given_fields_and_explicit_nulls() -> None:
    fields = parse_session_request({"type": "realtime", "audio": {"input": {"turn_detection": None}}})
    assert fields == {"type": "realtime", "audio": {"input": {"turn_detection": None}}}


@pytest.mark.parametrize(
    ("session", "param"),
    [
        ({"type": "realtime", "modalities": ["text"]}, "session.modalities"),
        (
            {"type": "realtime", "audio": {"output": {"voice": "marin", "pitch": 2}}},
            "session.audio.output.pitch",
        ),
        ({"type": "realtime", "audio": {"output": {"speed": 3.0}}}, "session.audio.output.speed"),
        (
            {
                "type": "realtime",
                "audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 2}}},
            },
            "session.audio.input.turn_detection.threshold",
        ),
        ({"type": "beta"}, "session.type"),
        (
            {"type": "realtime", "tools": [{"type": "function", "name": "f", "strict": True}]},
            "session.tools[0].strict",
        ),
    ],
)
def test_parse_refuses_with_param(session: dict[str, object], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_session_request(session)
    assert caught.value.param == param


def test_update_merges_audio_and_replaces_leaves() -> None:
    base = default_session("realtime", "gpt-realtime")
    update = parse_session_request(
        {
            "type": "realtime",
            "audio": {"input": {"turn_detection": {"type": "semantic_vad"}}, "output": {"voice": "ash"}},
        }
    )
    merged = apply_update(base, update)
    assert merged["audio"]["input"]["turn_detection"] == {"type": "semantic_vad"}
    assert merged["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert merged["audio"]["output"] == {
        "format": {"type": "audio/pcm", "rate": 24000},
        "voice": "ash",
        "speed": 1.0,
    }
    assert base["audio"]["output"]["voice"] == "alloy"  # the input was not mutated
    cleared = apply_update(
        merged, parse_session_request({"type": "realtime", "instructions": "", "tools": []})
    )
    assert cleared["instructions"] == "" and cleared["tools"] == []
    fmt = apply_update(
        base,
        parse_session_request({"type": "realtime", "audio": {"output": {"format": {"type": "audio/pcm"}}}}),
    )
    assert fmt["audio"]["output"]["format"] == {"type": "audio/pcm", "rate": 24000}


def test_update_rules() -> None:
    base = default_session("realtime", "gpt-realtime")
    assert apply_update(base, {"type": "realtime", "model": "gpt-realtime"})["model"] == "gpt-realtime"
    traced = apply_update(base, {"type": "realtime", "tracing": "auto"})
    assert apply_update(traced, {"type": "realtime", "tracing": "auto"})["tracing"] == "auto"
    with pytest.raises(InvalidRequest):
        apply_update(traced, {"type": "realtime", "tracing": {"workflow_name": "x"}})
    with pytest.raises(InvalidRequest):
        apply_update(base, {"type": "transcription"})
    voice = {"type": "realtime", "audio": {"output": {"voice": "marin"}}}
    assert apply_update(base, voice)["audio"]["output"]["voice"] == "marin"
    with pytest.raises(InvalidRequest) as caught:
        apply_update(base, voice, voice_locked=True)
    assert caught.value.code == "cannot_update_voice"
    same = {"type": "realtime", "audio": {"output": {"voice": "alloy"}}}
    assert apply_update(base, same, voice_locked=True)["audio"]["output"]["voice"] == "alloy"


def test_layering_engine_defaults_key_and_override() -> None:
    config = EngineConfig(
        model="gpt-realtime-2",
        default_session={"instructions": "engine", "audio": {"output": {"voice": "sage"}}},
    )
    engine = Engine(config)
    plain = engine.session_config(Credential("standard"))
    assert (plain["model"], plain["instructions"], plain["audio"]["output"]["voice"]) == (
        "gpt-realtime-2",
        "engine",
        "sage",
    )
    key = Credential("ephemeral", {"type": "realtime", "model": "gpt-realtime", "instructions": "key"})
    from_key = engine.session_config(key)
    assert (from_key["model"], from_key["instructions"]) == ("gpt-realtime", "key")
    assert engine.session_config(key, model="gpt-realtime-mini")["model"] == "gpt-realtime-mini"
    over = engine.session_config(key, override={"type": "realtime", "output_modalities": ["text"]})
    assert over["instructions"] == "key" and over["output_modalities"] == ["text"]
    assert engine.session_config(key, kind="transcription")["type"] == "transcription"
    with pytest.raises(InvalidRequest):
        Engine(EngineConfig(default_session={"voice": "alloy"}))
