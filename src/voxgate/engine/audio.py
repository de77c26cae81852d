"""Sans-I/O audio helpers: PCM16 conversions, base64, resampling, levels and duration math.

Everything here works on signed 16-bit little-endian PCM (``bytes``), the format of the Realtime
protocol (24 kHz mono), of Silero/Whisper input (16 kHz mono) and of aiortc frames (48 kHz stereo,
interleaved). Nothing here touches sockets, files or the event loop.
"""

from __future__ import annotations

import base64
import binascii
import math

import av
import numpy as np
import numpy.typing as npt

__all__ = [
    "PROTOCOL_RATE",
    "SPEECH_RATE",
    "StreamResampler",
    "b64_to_pcm16",
    "bytes_to_samples",
    "dbfs",
    "float_to_pcm16",
    "int16_to_pcm16",
    "ms_to_samples",
    "pcm16_duration_ms",
    "pcm16_to_b64",
    "pcm16_to_float",
    "pcm16_to_int16",
    "resample",
    "rms",
    "samples_to_bytes",
    "samples_to_ms",
    "to_mono",
]

PROTOCOL_RATE = 24000  # the Realtime protocol's pcm16
SPEECH_RATE = 16000  # Silero VAD and Whisper
_SAMPLE_BYTES = 2
_DBFS_FLOOR = -120.0  # what digital silence reports, so callers never see -inf


# ---- conversions -----------------------------------------------------------------------------------


def pcm16_to_int16(pcm16: bytes) -> npt.NDArray[np.int16]:
    """View PCM16 LE bytes as an int16 array (a copy, so the result is writable). Odd bytes are an error."""
    if len(pcm16) % _SAMPLE_BYTES:
        raise ValueError(f"PCM16 needs an even number of bytes, got {len(pcm16)}")
    return np.frombuffer(pcm16, dtype="<i2").astype(np.int16)


def int16_to_pcm16(samples: npt.NDArray[np.int16]) -> bytes:
    """Serialize an int16 array as PCM16 little-endian bytes."""
    return np.asarray(samples, dtype="<i2").tobytes()


def pcm16_to_float(pcm16: bytes) -> npt.NDArray[np.float32]:
    """PCM16 bytes to float32 in [-1, 1): the input format of Silero and Whisper."""
    return pcm16_to_int16(pcm16).astype(np.float32) / 32768.0


def float_to_pcm16(samples: npt.NDArray[np.floating]) -> bytes:
    """Float samples in [-1, 1] to PCM16 bytes, clipping (rather than wrapping) out-of-range values."""
    scaled = np.clip(np.asarray(samples, dtype=np.float64) * 32768.0, -32768, 32767)
    return np.rint(scaled).astype("<i2").tobytes()


def pcm16_to_b64(pcm16: bytes) -> str:
    """Base64 text of PCM16 bytes, as in ``input_audio_buffer.append`` / ``response.output_audio.delta``."""
    return base64.b64encode(pcm16).decode("ascii")


def b64_to_pcm16(data: str) -> bytes:
    """Decode base64 PCM16 from a client; raises ``ValueError`` on bad base64 or an odd byte count."""
    try:
        raw = base64.b64decode(data, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"invalid base64 audio: {exc}") from exc
    if len(raw) % _SAMPLE_BYTES:
        raise ValueError(f"PCM16 audio needs an even number of bytes, got {len(raw)}")
    return raw


def to_mono(pcm16: bytes, channels: int) -> bytes:
    """Average interleaved ``channels`` of PCM16 down to one (aiortc gives stereo even for a mono mic)."""
    if channels == 1:
        return pcm16
    samples = pcm16_to_int16(pcm16)
    if samples.size % channels:
        raise ValueError(f"{samples.size} samples do not split into {channels} channels")
    # Sum in int32 so two loud channels do not overflow before dividing.
    mixed = samples.reshape(-1, channels).astype(np.int32).sum(axis=1) // channels
    return bytes(mixed.astype("<i2").tobytes())


# ---- levels and durations --------------------------------------------------------------------------


def rms(pcm16: bytes) -> float:
    """Root-mean-square level as a fraction of full scale (0..~1); 0.0 for empty input."""
    samples = pcm16_to_float(pcm16)
    if samples.size == 0:
        return 0.0
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))


def dbfs(pcm16: bytes) -> float:
    """RMS level in dBFS (a full-scale square wave is 0, a full-scale sine about -3); floored at -120."""
    level = rms(pcm16)
    return max(_DBFS_FLOOR, 20.0 * math.log10(level)) if level > 0 else _DBFS_FLOOR


def ms_to_samples(ms: float, sample_rate: int) -> int:
    """Number of samples in ``ms`` milliseconds (rounded to the nearest sample)."""
    return round(ms * sample_rate / 1000)


def samples_to_ms(samples: int, sample_rate: int) -> float:
    """Duration in milliseconds of ``samples`` samples."""
    return samples * 1000 / sample_rate


def samples_to_bytes(samples: int, channels: int = 1) -> int:
    """Byte length of ``samples`` PCM16 samples per channel."""
    return samples * channels * _SAMPLE_BYTES


def bytes_to_samples(n_bytes: int, channels: int = 1) -> int:
    """Samples per channel in ``n_bytes`` bytes of PCM16."""
    return n_bytes // (channels * _SAMPLE_BYTES)


def pcm16_duration_ms(pcm16: bytes, sample_rate: int, channels: int = 1) -> float:
    """Duration in milliseconds of a PCM16 buffer."""
    return samples_to_ms(bytes_to_samples(len(pcm16), channels), sample_rate)


# ---- resampling -------------------------------------------------------------------------------------


class StreamResampler:
    """Resample a stream of PCM16 chunks to mono at ``to_rate``, keeping filter state between chunks.

    Uses FFmpeg's swresample through PyAV (already a dependency of aiortc and faster-whisper): it has no
    start delay and gives ``round(n * to_rate / from_rate)`` samples over a whole stream. Each chunk's
    output may lag its input by a few samples; call :meth:`flush` at the end of the stream for the tail.
    """

    def __init__(self, from_rate: int, to_rate: int, channels: int = 1) -> None:
        if from_rate <= 0 or to_rate <= 0 or channels not in (1, 2):
            raise ValueError(f"bad resampler config: {from_rate} Hz -> {to_rate} Hz, {channels} channels")
        self.from_rate = from_rate
        self.to_rate = to_rate
        self.channels = channels
        self._layout = "mono" if channels == 1 else "stereo"
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=to_rate)

    def process(self, pcm16: bytes) -> bytes:
        """Feed one chunk of interleaved PCM16 and return whatever resampled mono audio is ready."""
        if not pcm16:
            return b""
        samples = pcm16_to_int16(pcm16)
        if samples.size % self.channels:
            raise ValueError(f"{samples.size} samples do not split into {self.channels} channels")
        # Packed s16 frames are shaped (1, samples * channels) in PyAV.
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout=self._layout)
        frame.sample_rate = self.from_rate
        return self._collect(self._resampler.resample(frame))

    def flush(self) -> bytes:
        """Return the samples still held in the filter; the resampler can't be fed after this."""
        return self._collect(self._resampler.resample(None))

    @staticmethod
    def _collect(frames: list[av.AudioFrame]) -> bytes:
        return b"".join(f.to_ndarray().astype("<i2").tobytes() for f in frames)


def resample(pcm16: bytes, from_rate: int, to_rate: int, channels: int = 1) -> bytes:
    """Resample a whole PCM16 buffer (interleaved ``channels``) to mono at ``to_rate``.

    Typical uses: 24k->16k (protocol to ASR), 48k stereo->24k (aiortc to protocol), 22.05k->24k (piper).
    """
    if from_rate == to_rate:
        return to_mono(pcm16, channels)
    n_in = bytes_to_samples(len(pcm16), channels)
    if n_in < 128:
        # swresample holds back the first few dozen samples of a stream and emits nothing for tiny
        # inputs; linear interpolation is exact enough for a handful of samples.
        mono = pcm16_to_int16(to_mono(pcm16, channels)).astype(np.float64)
        n_out = round(n_in * to_rate / from_rate)
        if n_in == 0 or n_out == 0:
            return b""
        positions = np.arange(n_out) * (from_rate / to_rate)
        return bytes(np.rint(np.interp(positions, np.arange(n_in), mono)).astype("<i2").tobytes())
    stream = StreamResampler(from_rate, to_rate, channels)
    return stream.process(pcm16) + stream.flush()
