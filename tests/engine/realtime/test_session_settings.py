"""A session's config is read into typed settings once per update, not once per chunk or VAD window."""

from __future__ import annotations

import json

import pytest

from tests.engine.voice.test_voice_observer import ScriptedRecognizer, open_session, silence, speech
from voxgate.engine.realtime import settings as settings_module
from voxgate.engine.realtime.session_config import apply_update, default_session, parse_session_request
from voxgate.engine.realtime.settings import SessionSettings
from voxgate.engine.turns import TurnParams


async def test_turn_settings_are_parsed_once_per_update_not_per_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reads: list[object] = []
    original = TurnParams.from_config

    def counted(turn_detection: object, *, responses: bool = True) -> TurnParams | None:
        reads.append(turn_detection)
        return original(turn_detection, responses=responses)  # type: ignore[arg-type]

    monkeypatch.setattr(settings_module.TurnParams, "from_config", staticmethod(counted))
    session, events = await open_session(ScriptedRecognizer())
    try:
        assert len(reads) == 1  # the session's creation
        session.feed_input_audio(silence(500) + speech(800) + silence(600))  # ~60 VAD windows
        await events.until("input_audio_buffer.committed")
        assert len(reads) == 1
        update = {"type": "session.update", "session": {"type": "realtime", "instructions": "Be brief."}}
        await session.handle_message(json.dumps(update))
        await events.until("session.updated")
        assert len(reads) == 2  # once more, for the update
    finally:
        await session.aclose()


def test_settings_carry_the_effective_values() -> None:
    config = apply_update(
        default_session("realtime", "gpt-realtime"),
        parse_session_request(
            {
                "type": "realtime",
                "audio": {
                    "input": {
                        "transcription": {"model": "whisper-1", "language": "de"},
                        "turn_detection": None,
                    },
                    "output": {"voice": "marin", "speed": 1.2},
                },
                "max_output_tokens": 100,
            }
        ),
    )
    settings = SessionSettings.from_config(config)
    assert (settings.kind, settings.voice, settings.speed, settings.max_output_tokens) == (
        "realtime",
        "marin",
        1.2,
        100,
    )
    assert settings.turn is None and settings.transcription_language == "de"
    assert dict(settings.input_format) == {"type": "audio/pcm", "rate": 24000}
    defaults = SessionSettings.from_config(default_session("realtime", "gpt-realtime"))
    assert defaults.turn == TurnParams(mode="server_vad") and defaults.max_output_tokens == "inf"
    assert defaults.transcription is None and defaults.output_modalities == ("audio",)
