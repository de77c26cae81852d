"""Silero VAD (v5/v6 ONNX) on onnxruntime: speech probability per 32 ms window of 16 kHz audio.

The default model is the copy shipped inside faster-whisper (``faster_whisper/assets/silero_vad_v6.onnx``),
hash-checked. That copy names its tensors ``input``/``h``/``c`` -> ``speech_probs``/``hn``/``cn`` and has no
``sr`` input; the upstream Silero file uses ``input``/``state``/``sr`` -> ``output``/``stateN``. Both layouts
are detected from the model's own input names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from voxgate.engine.audio import pcm16_to_float, samples_to_bytes
from voxgate.engine.speech.weights import locate

__all__ = ["SileroModel", "SileroVAD", "speech_regions"]

_WINDOW = 512  # samples per call at 16 kHz: the only size Silero v5+ accepts at this rate
_CONTEXT = 64  # trailing samples of the previous window that v5+ expects prepended (input is 576 long)


def default_model_path() -> Path:
    """Path of the hash-checked Silero v6 model inside the pinned faster-whisper package."""
    return locate("silero-vad") / "silero_vad_v6.onnx"


class SileroModel:
    """Silero's ONNX model, loaded once (an onnxruntime session costs a few ms and a few MB).

    It holds no stream state (that is fed in and out of every run), so one model serves every
    :class:`SileroVAD` of the process: sessions of a call no longer pay for loading it while the
    caller waits for the SDP answer.
    """

    def __init__(self, model_path: str | Path | None = None, *, threads: int = 1) -> None:
        """Load the model (default: the faster-whisper asset). ``threads`` stays 1: one window is tiny and
        extra threads only contend with ASR for the two cores."""
        import onnxruntime as ort  # heavy import kept inside the backend

        path = Path(model_path) if model_path is not None else default_model_path()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3  # keep onnxruntime's initializer warnings out of our logs
        self.session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        names = {i.name for i in self.session.get_inputs()}
        if {"input", "h", "c"} <= names:
            self.layout = "hc"  # faster-whisper's copy
        elif {"input", "state", "sr"} <= names:
            self.layout = "state"  # upstream silero_vad.onnx
        else:
            raise ValueError(f"{path} is not a Silero v5/v6 model (inputs: {sorted(names)})")

    def detector(self) -> SileroVAD:
        """A new detector (one per audio stream) on this model."""
        return SileroVAD(self)


class SileroVAD:
    """:class:`~voxgate.engine.speech.base.VoiceActivityDetector` backed by Silero's ONNX model.

    One instance per audio stream: it carries the model's recurrent state and the last 64 samples. Give
    it a shared :class:`SileroModel` (then it is made in microseconds), or a path or nothing to load a
    model of its own; calls are ~0.1 ms each.
    """

    sample_rate: int = 16000
    window_samples: int = _WINDOW

    def __init__(self, model: SileroModel | str | Path | None = None, *, threads: int = 1) -> None:
        self._model = model if isinstance(model, SileroModel) else SileroModel(model, threads=threads)
        self._session = self._model.session
        self._layout = self._model.layout
        self._window_bytes = samples_to_bytes(_WINDOW)
        self._sr = np.array(self.sample_rate, dtype=np.int64)
        self.reset()

    def reset(self) -> None:
        """Forget the recurrent state and context (between unrelated streams)."""
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros(_CONTEXT, dtype=np.float32)

    def probability(self, window: bytes) -> float:
        """Speech probability of exactly 512 PCM16 samples (32 ms) at 16 kHz."""
        if len(window) != self._window_bytes:
            raise ValueError(f"Silero needs {self._window_bytes} bytes (512 samples), got {len(window)}")
        return self._run(pcm16_to_float(window))

    def _run(self, samples: npt.NDArray[np.float32]) -> float:
        # Without the previous 64 samples in front, v5+ probabilities come out wrong (measured).
        x = np.concatenate([self._context, samples])[np.newaxis, :]
        self._context = samples[-_CONTEXT:].copy()
        feeds: dict[str, Any]
        if self._layout == "hc":
            feeds = {"input": x, "h": self._h, "c": self._c}
            prob, self._h, self._c = self._session.run(None, feeds)
        else:
            feeds = {"input": x, "state": self._state, "sr": self._sr}
            prob, self._state = self._session.run(None, feeds)
        return float(np.asarray(prob).reshape(-1)[0])

    def probabilities(self, pcm16: bytes) -> list[float]:
        """Probabilities for each whole 512-sample window of ``pcm16`` (a trailing partial window is
        ignored), continuing the current stream state. Handy for offline analysis and tests."""
        samples = pcm16_to_float(pcm16)
        return [self._run(samples[i : i + _WINDOW]) for i in range(0, samples.size - _WINDOW + 1, _WINDOW)]


def speech_regions(
    probabilities: list[float],
    *,
    threshold: float = 0.5,
    neg_threshold: float | None = None,
    min_silence_ms: float = 300.0,
    min_speech_ms: float = 100.0,
    window_ms: float = 1000.0 * _WINDOW / 16000,
) -> list[tuple[float, float]]:
    """Turn per-window probabilities into ``(start_ms, end_ms)`` speech regions.

    Hysteresis like Silero's own iterator: speech starts at a window with p >= ``threshold`` and ends
    after ``min_silence_ms`` of windows below ``neg_threshold`` (default threshold - 0.15), so dips between
    words don't split a turn. Regions shorter than ``min_speech_ms`` are dropped as clicks.
    """
    low = threshold - 0.15 if neg_threshold is None else neg_threshold
    regions: list[tuple[float, float]] = []
    start: int | None = None
    silent_since: int | None = None
    for i, p in enumerate(probabilities):
        if start is None:
            if p >= threshold:
                start, silent_since = i, None
            continue
        if p >= low:
            silent_since = None
        elif silent_since is None:
            silent_since = i
        elif (i + 1 - silent_since) * window_ms >= min_silence_ms:
            regions.append((start * window_ms, silent_since * window_ms))
            start = silent_since = None
    if start is not None:
        end = silent_since if silent_since is not None else len(probabilities)
        regions.append((start * window_ms, end * window_ms))
    return [(s, e) for s, e in regions if e - s >= min_speech_ms]
