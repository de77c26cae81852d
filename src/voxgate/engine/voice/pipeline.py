"""Processors and the pipeline that chains them, in the style of pipecat's ``FrameProcessor``.

A processor takes one frame and returns the frames it pushes downstream: its own results, and any frame
it does not handle, passed through unchanged. The input side of the engine runs synchronously inside
``InputAudioObserver.on_audio`` (every stage is cheap: a resampler, one small ONNX call per 32 ms, a
state machine), so a decision such as "the user started speaking" is taken while the chunk that proves
it is being handled, never later.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from voxgate.engine.voice.frames import Frame

__all__ = ["Pipeline", "Processor"]


class Processor(Protocol):
    """One stage: a frame in, the frames it pushes downstream out (pass-through included)."""

    def process(self, frame: Frame) -> Iterable[Frame]:
        """Handle ``frame``; return what goes to the next stage."""
        ...


class Pipeline:
    """Processors in order; :meth:`push` runs a frame through all of them."""

    def __init__(self, processors: Sequence[Processor]) -> None:
        self.processors = list(processors)

    def push(self, frame: Frame) -> list[Frame]:
        """The frames that come out of the last stage for ``frame`` going into the first."""
        frames = [frame]
        for processor in self.processors:
            frames = [out for item in frames for out in processor.process(item)]
        return frames
