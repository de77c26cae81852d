"""Whisper's short window (``window_s``): the engine's setting gives the words of the 30 s window,
faster, and hands what it can't do well to the standard path."""

from __future__ import annotations

import pytest

from tests.engine.voice_kit import SENTENCES, espeak, recognizer, silence
from voxgate.engine.speech.asr import WhisperRecognizer
from voxgate.engine.speech.wer import word_error_rate


@pytest.fixture(scope="module")
def full_window() -> WhisperRecognizer:
    return WhisperRecognizer(cpu_threads=2)


async def test_short_window_hears_the_same_words(
    full_window: WhisperRecognizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 10 s window hears what the 30 s one does. How much faster it is, is measured by
    ``bench/bench_engine.py --window 10`` against ``--window 30`` (about 4x), not asserted here."""
    short = recognizer()
    assert short.window_s == 10.0
    windows: list[float] = []
    original = short._transcribe_window

    def spy(audio: object, language: str | None, window_s: float) -> object:
        windows.append(window_s)
        return original(audio, language, window_s)  # type: ignore[arg-type]

    monkeypatch.setattr(short, "_transcribe_window", spy)
    heard: dict[str, list[str]] = {}
    for name, rec in (("short", short), ("full", full_window)):
        heard[name] = [
            (await rec.transcribe(silence(300) + espeak(sentence) + silence(200), sample_rate=24000)).text
            for sentence in SENTENCES
        ]
    assert windows == [10.0] * len(SENTENCES)  # every turn took the short path
    # On 60 clips (espeak-ng and piper) both windows scored the same; a handful of sentences is noisier.
    short_wer = word_error_rate(SENTENCES, heard["short"])
    assert short_wer <= 0.15 and short_wer <= word_error_rate(SENTENCES, heard["full"]) + 0.1
    assert (await short.transcribe(silence(2000), sample_rate=24000)).text == ""


async def test_long_turns_take_the_standard_path(monkeypatch: pytest.MonkeyPatch) -> None:
    short = recognizer()
    calls: list[float] = []
    original = short._transcribe_window

    def spy(audio: object, language: str | None, window_s: float) -> object:
        calls.append(window_s)
        return original(audio, language, window_s)  # type: ignore[arg-type]

    monkeypatch.setattr(short, "_transcribe_window", spy)
    # Three different sentences: Whisper tends to drop a repeat of the very same words.
    said = SENTENCES[1:4]
    long_turn = silence(300).join(espeak(sentence) for sentence in said)
    assert len(long_turn) / 48 > 9000  # over the short window's 9 s limit
    heard = await short.transcribe(long_turn, sample_rate=24000)
    assert calls == [] and word_error_rate(" ".join(said), heard.text) <= 0.2
    speech = espeak(SENTENCES[1])
    await short.transcribe(speech, sample_rate=24000)
    assert calls == [10.0]
