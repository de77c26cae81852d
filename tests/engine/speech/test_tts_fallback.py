"""A machine with neither piper nor espeak-ng (``make run`` on a fresh machine before this fix): the
synthesizer factory says so in one log line, no traceback, and the engine still starts and answers, in
text and transcripts without audio."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.engine.conftest import EngineServer
from tests.engine.realtime_kit import sdk_reader
from voxgate.engine.speech.tts import EspeakSynthesizer, create_synthesizer

MISSING = "espeak-ng-is-not-installed-here"


@pytest.mark.parametrize("preferred", ["auto", "espeak", "piper"])
def test_no_synthesizer_is_one_clear_line(preferred: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    assert create_synthesizer(preferred, piper=False, espeak=MISSING) is None
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1 and lines[0].exc_info is None
    message = lines[0].getMessage()
    assert message.startswith("speech synthesis is off") and "without audio" in message
    assert ("voxgate[piper]" in message) == (preferred != "espeak")
    assert ("apt-get install espeak-ng" in message) == (preferred != "piper")


def test_espeak_is_the_fallback_when_piper_is_missing(caplog: pytest.LogCaptureFixture) -> None:
    assert isinstance(create_synthesizer("auto", piper=False), EspeakSynthesizer)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_an_engine_without_a_synthesizer_starts_and_answers(
    make_server: Callable[..., Awaitable[EngineServer]],
) -> None:
    server = await make_server(synthesizer=create_synthesizer("auto", piper=False, espeak=MISSING))
    async with server.client() as sdk, sdk.realtime.connect(model="gpt-realtime") as conn:
        events = sdk_reader(conn)
        await events.expect("session.created")
        await conn.conversation.item.create(
            item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
        )
        await conn.response.create()
        sequence = await events.until("response.done")
    done = sequence[-1]["response"]
    assert done["status"] == "completed"
    assert done["output"][0]["content"][0]["transcript"].startswith('You said: "hi"')
    assert "response.output_audio.delta" not in [e["type"] for e in sequence]


def test_espeak_hidden_from_path_and_piper_absent(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH without espeak-ng
    assert create_synthesizer("auto", piper=False) is None
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1
