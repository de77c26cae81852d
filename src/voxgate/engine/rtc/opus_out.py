"""The call's outgoing Opus, encoded by the track itself: 24 kHz mono at speech bitrate, silence for free.

Left to aiortc, every 20 ms frame of every call is upmixed to 48 kHz stereo, encoded at 96 kb/s in a
thread-pool job (a thread hop each way) and measured for its audio level, silence included, and a call
is silent most of the time. Here the playback track hands aiortc ready packets (aiortc sends
:class:`av.Packet` as they are): its own mono encoder at the track's 24 kHz, no resampler, inline on the
event loop (~0.15 ms a frame), and while nothing plays, one silent packet encoded once and sent again.
After audio the encoder still gets a few frames of silence, so the speech held in its lookahead
(6.5 ms) comes out and it ends on silence, as it would have seen it anyway.
"""

from __future__ import annotations

import fractions
import functools
from typing import Any, Final

from av import AudioFrame, CodecContext, Packet
from av.audio.codeccontext import AudioCodecContext

__all__ = ["BITRATE", "OpusOut"]

RATE: Final = 24000
FRAME_SAMPLES: Final = RATE // 50  # 20 ms
BITRATE: Final = 32000  # what browsers send mono speech at; plenty for 24 kHz TTS
TAIL_FRAMES: Final = 3  # silent frames encoded after audio (more than the 6.5 ms lookahead)
_TIME_BASE: Final = fractions.Fraction(1, RATE)
_SILENCE: Final = bytes(FRAME_SAMPLES * 2)


def _encoder() -> AudioCodecContext:
    codec = CodecContext.create("libopus", "w")
    assert isinstance(codec, AudioCodecContext)
    codec.bit_rate = BITRATE
    codec.format = "s16"
    codec.layout = "mono"
    codec.sample_rate = RATE
    codec.time_base = _TIME_BASE
    codec.options = {"application": "voip"}
    return codec


@functools.cache
def _silent_packet() -> bytes:
    """20 ms of silence, encoded once per process (a call's answer need not wait for it)."""
    # A fresh encoder's output settles after its first frames; any later one is the steady silence.
    codec = _encoder()
    packets = [
        bytes(p) for pts in range(0, 6 * FRAME_SAMPLES, FRAME_SAMPLES) for p in _run(codec, _SILENCE, pts)
    ]
    return packets[-1]


class OpusOut:
    """Encodes one call's 20 ms frames of 24 kHz mono PCM16 into Opus packets, one packet a frame."""

    def __init__(self) -> None:
        self._codec = _encoder()
        self._tail = 0  # silent frames the encoder still gets before the cached packet takes over
        self._silence = _silent_packet()

    def encode(self, pcm: bytes | None, pts: int) -> Packet[Any]:
        """The packet for the frame at ``pts`` (24 kHz units): ``pcm`` is exactly one frame of audio, or
        None when nothing plays (silence)."""
        if pcm is None:
            if self._tail == 0:
                return _packet(self._silence, pts)
            self._tail -= 1
            pcm = _SILENCE
        else:
            self._tail = TAIL_FRAMES
        packets = _run(self._codec, pcm, pts)
        # libopus gives one packet per 20 ms frame; should it ever hold one back, silence keeps the pace.
        return _packet(bytes(packets[0]) if packets else self._silence, pts)


def _run(codec: AudioCodecContext, pcm: bytes, pts: int) -> list[Packet[Any]]:
    frame = AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
    frame.planes[0].update(pcm)
    frame.sample_rate = RATE
    frame.pts = pts
    frame.time_base = _TIME_BASE
    return list(codec.encode(frame))


def _packet(data: bytes, pts: int) -> Packet[Any]:
    # aiortc turns pts (in time_base) into the RTP timestamp (48 kHz units for Opus).
    packet = Packet(data)
    packet.pts = pts
    packet.time_base = _TIME_BASE
    return packet
