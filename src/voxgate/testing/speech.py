"""Test audio: tones, their loudness, and a deterministic synthesizer that needs no voice installed."""

from __future__ import annotations

import asyncio
import math
import struct
from collections.abc import AsyncIterator

__all__ = ["ToneSynthesizer", "rms", "tone"]


def tone(ms: int, hz: float = 440.0, rate: int = 24000, amplitude: int = 8000) -> bytes:
    """A sine tone as PCM16 mono."""
    n = rate * ms // 1000
    return struct.pack(f"<{n}h", *(int(amplitude * math.sin(2 * math.pi * hz * i / rate)) for i in range(n)))


def rms(pcm: bytes) -> float:
    """Root mean square of PCM16 samples."""
    count = len(pcm) // 2
    if not count:
        return 0.0
    samples = struct.unpack(f"<{count}h", pcm[: count * 2])
    return math.sqrt(sum(s * s for s in samples) / count)


class ToneSynthesizer:
    """A deterministic synthesizer: 100 ms of tone per word, as 24 kHz PCM16, one chunk per word.

    ``calls`` lists the texts it was asked to speak, in order.
    """

    sample_rate = 24000
    WORD_MS = 100

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def synthesize(
        self, text: str, *, voice: str | None = None, speed: float = 1.0
    ) -> AsyncIterator[bytes]:
        """One tone chunk per word of ``text``."""
        self.calls.append(text)
        for _ in text.split():
            await asyncio.sleep(0)
            yield tone(self.WORD_MS)
