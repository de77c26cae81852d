"""The engine's voice pipeline: small processors over a small frame catalogue, pipecat-style.

Input side, one module per stage (each plugged into a session as its input observer):

* :mod:`~voxgate.engine.voice.frames` — the frame catalogue
* :mod:`~voxgate.engine.voice.pipeline` — ``Processor`` and ``Pipeline``
* :mod:`~voxgate.engine.voice.input_audio` — session input format → 16 kHz, the stream clock
* :mod:`~voxgate.engine.voice.vad_stage` — VAD windows → probabilities
* :mod:`~voxgate.engine.voice.turn_detector` — ``server_vad``/``semantic_vad`` turns, idle timeout
* :mod:`~voxgate.engine.voice.transcriber` — one ASR call per committed turn, reported as ``Heard``
* :mod:`~voxgate.engine.voice.observer` — the wiring: ``voice_observer_factory(vad_factory, recognizer)``

The pipeline drives a :class:`~voxgate.engine.ports.VoiceSession` and imports nothing of the protocol
packages (import-linter checks it): the GA Realtime and the GPT-Live sessions both plug it in. Heavy
libraries stay in :mod:`voxgate.engine.speech` (behind its ``base`` protocols); nothing here imports them.

Wiring::

    recognizer = WhisperRecognizer()  # load once, share
    vad = SileroModel()  # load once too; each session gets its own detector (its state)
    engine = Engine(config, observer_factory=voice_observer_factory(vad.detector, recognizer))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from voxgate.engine.voice.observer import VoiceObserver, voice_observer_factory

__all__ = ["VoiceObserver", "voice_observer_factory"]


def __getattr__(name: str) -> Any:
    # Lazy, so importing a small voice module does not load the whole pipeline.
    if name in __all__:
        from voxgate.engine.voice import observer

        return getattr(observer, name)
    raise AttributeError(name)
