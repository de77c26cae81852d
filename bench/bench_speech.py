"""Benchmark the offline speech stack on this machine and print a table.

    .venv/bin/python bench/bench_speech.py [--repeats N] [--multilingual]

Measures: Silero VAD CPU per second of audio, Whisper seconds per committed turn (and WER on espeak-ng
speech), TTS time to first chunk and real-time factor for each installed backend, and model load times.
``--multilingual``: WER and CPU per turn of tiny.en and of the multilingual ``whisper-base``
(``voxgate[multilingual]``) on espeak-ng speech in English, French, German and Spanish, the language
given (as a session's ``transcription.language`` gives it) and, for base, guessed.
Needs the espeak-ng CLI for test speech.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import subprocess
import tempfile
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

from voxgate.engine import audio
from voxgate.engine.speech.asr import BUNDLED, ModelFilesError, WhisperRecognizer
from voxgate.engine.speech.base import SpeechSynthesizer
from voxgate.engine.speech.tts import EspeakSynthesizer, PiperSynthesizer, piper_available
from voxgate.engine.speech.vad import SileroVAD
from voxgate.engine.speech.wer import word_error_rate

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Please schedule a meeting with the design team for next Tuesday afternoon.",
    "The weather today is sunny with a light breeze from the west.",
    "I would like to order two large pizzas and a bottle of water.",
    "Turn off the lights in the kitchen before you go to bed.",
]
REPLY = (
    "Sure, I can help with that. The meeting is set for Tuesday at three in the afternoon, "
    "in the small room on the second floor, and I have sent the invitation to everyone on the team. "
    "Is there anything else you need?"
)

# espeak-ng voice and five plain sentences per language, for --multilingual.
LANGUAGES = {
    "en": ("en-us", SENTENCES),
    "fr": ("fr", [
        "Le petit chat dort sur le canapé du salon.",
        "Pouvez-vous réserver une table pour quatre personnes ce soir?",
        "Il fait beau aujourd'hui et le ciel est bleu.",
        "Je voudrais acheter du pain et du fromage au marché.",
        "Éteignez la lumière de la cuisine avant de vous coucher.",
    ]),
    "de": ("de", [
        "Der kleine Hund spielt im Garten mit dem Ball.",
        "Können Sie bitte morgen früh um neun Uhr anrufen?",
        "Das Wetter ist heute sonnig und warm.",
        "Ich möchte zwei Tassen Kaffee und ein Stück Kuchen bestellen.",
        "Mach bitte das Licht in der Küche aus, bevor du schlafen gehst.",
    ]),
    "es": ("es", [
        "El perro pequeño juega en el parque con la pelota.",
        "¿Puede reservar una mesa para cuatro personas esta noche?",
        "Hoy hace sol y el cielo está despejado.",
        "Quiero comprar pan y queso en el mercado.",
        "Apaga la luz de la cocina antes de acostarte.",
    ]),
}  # fmt: skip

rows: list[tuple[str, str, str]] = []


def row(stage: str, metric: str, value: str) -> None:
    rows.append((stage, metric, value))


def espeak_16k(text: str, folder: Path, name: str, voice: str = "en-us") -> bytes:
    path = folder / f"{name}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True, capture_output=True)
    with wave.open(str(path), "rb") as wav:
        pcm = wav.readframes(wav.getnframes())
        return audio.resample(pcm, wav.getframerate(), 16000, wav.getnchannels())


def timed(build: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    obj = build()
    return obj, time.perf_counter() - start


def bench_vad(clips: list[bytes]) -> None:
    vad, load = timed(SileroVAD)
    row("VAD silero v6", "load (s)", f"{load:.3f}")
    pcm = b"".join(clips) * 2
    seconds = audio.pcm16_duration_ms(pcm, 16000) / 1000
    window = audio.samples_to_bytes(vad.window_samples)
    cpu0 = time.process_time()
    for i in range(0, len(pcm) - window + 1, window):
        vad.probability(pcm[i : i + window])  # the streaming call the engine makes
    cpu = time.process_time() - cpu0
    row("VAD silero v6", "CPU ms per s of audio", f"{cpu * 1000 / seconds:.2f}")


async def bench_asr(clips: list[bytes], threads: int, repeats: int) -> None:
    rec, load = timed(lambda: WhisperRecognizer(cpu_threads=threads))
    name = f"ASR tiny.en int8 t={threads}"
    row(name, "load (s)", f"{load:.2f}")
    await rec.transcribe(clips[0])  # warm-up: first call allocates buffers
    times: list[float] = []
    hyps: list[str] = []
    for _ in range(repeats):
        hyps = []
        for clip in clips:
            start = time.perf_counter()
            hyps.append((await rec.transcribe(clip)).text)
            times.append(time.perf_counter() - start)
    row(name, "s per turn (median / max)", f"{statistics.median(times):.2f} / {max(times):.2f}")
    row(name, "WER espeak 5 sentences", f"{word_error_rate(SENTENCES, hyps):.1%}")
    start = time.perf_counter()
    silent = await rec.transcribe(b"\x00\x00" * 32000)
    row(name, "2 s silence: s / text", f"{time.perf_counter() - start:.2f} / {silent.text!r}")


async def bench_multilingual() -> None:
    """WER by language for each Whisper the engine can run from PyPI, as the engine runs it (10 s window)."""
    with tempfile.TemporaryDirectory() as tmp:
        clips = {
            lang: [espeak_16k(s, Path(tmp), f"{lang}{i}", voice) for i, s in enumerate(sentences)]
            for lang, (voice, sentences) in LANGUAGES.items()
        }
    for model in BUNDLED:
        try:
            rec = WhisperRecognizer(model, cpu_threads=1, window_s=10.0)
        except ModelFilesError as exc:
            row(f"ASR {model}", "-", f"not installed ({exc})")
            continue
        rec.warm_up()
        multilingual = not model.endswith(".en")
        for lang, (_, sentences) in LANGUAGES.items():
            for given in (lang, None) if multilingual else (None,):
                hyps, cpu, heard = [], [], set()
                for clip in clips[lang]:
                    start = time.process_time()
                    result = await rec.transcribe(clip, language=given)
                    cpu.append(time.process_time() - start)
                    hyps.append(result.text)
                    heard.add(result.language)
                told = given or ("guessed" if multilingual else "en only")
                row(
                    f"ASR {model} t=1",
                    f"{lang}, language {told}: WER / CPU s per turn",
                    f"{word_error_rate(sentences, hyps):.1%} / {statistics.median(cpu):.2f}"
                    f" (heard as {', '.join(sorted(str(x) for x in heard))})",
                )


async def bench_tts(label: str, synth: SpeechSynthesizer, load: float, repeats: int) -> None:
    row(label, "load (s)", f"{load:.2f}")
    async for _ in synth.synthesize("Warm up."):
        pass
    firsts: list[float] = []
    rtfs: list[float] = []
    for _ in range(repeats):
        start = time.perf_counter()
        first: float | None = None
        total = 0
        async for chunk in synth.synthesize(REPLY):
            if first is None:
                first = time.perf_counter() - start
            total += len(chunk)
        elapsed = time.perf_counter() - start
        firsts.append(first or elapsed)
        rtfs.append(elapsed / (audio.pcm16_duration_ms(b"\0" * total, 24000) / 1000))
    row(label, "first chunk (ms, median)", f"{statistics.median(firsts) * 1000:.0f}")
    row(label, "real-time factor (lower=faster)", f"{statistics.median(rtfs):.3f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--multilingual", action="store_true", help="only the WER by language")
    args = parser.parse_args()
    if args.multilingual:
        await bench_multilingual()
        print_rows()
        return
    with tempfile.TemporaryDirectory() as tmp:
        clips = [espeak_16k(s, Path(tmp), str(i)) for i, s in enumerate(SENTENCES)]
    bench_vad(clips)
    for threads in (1, 2):
        await bench_asr(clips, threads, args.repeats)
    espeak, load = timed(EspeakSynthesizer)
    await bench_tts("TTS espeak-ng", espeak, load, args.repeats)
    if piper_available():
        for threads in (1, 2):
            piper, load = timed(functools.partial(PiperSynthesizer, threads=threads))
            await bench_tts(f"TTS piper joe t={threads}", piper, load, args.repeats)
    else:
        row("TTS piper", "-", "not installed")
    print_rows()


def print_rows() -> None:
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    print(f"{'stage':<{width[0]}}  {'metric':<{width[1]}}  value")
    print(f"{'-' * width[0]}  {'-' * width[1]}  {'-' * width[2]}")
    for stage, metric, value in rows:
        print(f"{stage:<{width[0]}}  {metric:<{width[1]}}  {value}")


if __name__ == "__main__":
    asyncio.run(main())
