"""Round trips and known values for the sans-I/O audio helpers."""

from __future__ import annotations

import numpy as np
import pytest

from voxgate.engine import audio


def tone(freq: float, rate: int, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    return (np.sin(2 * np.pi * freq * t) * amplitude * 32767).astype(np.int16)


def peak_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(samples.size)))
    return float(np.fft.rfftfreq(samples.size, 1 / rate)[int(np.argmax(spectrum))])


def test_int16_bytes_round_trip() -> None:
    samples = np.array([0, 1, -1, 32767, -32768, 1234], dtype=np.int16)
    pcm = audio.int16_to_pcm16(samples)
    assert pcm == b"\x00\x00\x01\x00\xff\xff\xff\x7f\x00\x80\xd2\x04"  # little-endian on any host
    back = audio.pcm16_to_int16(pcm)
    np.testing.assert_array_equal(back, samples)
    back[0] = 7  # a writable copy, not a view of the immutable bytes


def test_odd_byte_count_is_rejected() -> None:
    with pytest.raises(ValueError, match="even"):
        audio.pcm16_to_int16(b"\x00\x01\x02")


def test_float_round_trip_and_clipping() -> None:
    samples = np.array([0, 1000, -1000, 32767, -32768], dtype=np.int16)
    floats = audio.pcm16_to_float(audio.int16_to_pcm16(samples))
    assert floats.dtype == np.float32
    assert float(floats.max()) < 1.0
    assert float(floats.min()) == -1.0
    assert audio.float_to_pcm16(floats) == audio.int16_to_pcm16(samples)
    clipped = audio.pcm16_to_int16(audio.float_to_pcm16(np.array([2.0, -2.0])))
    assert clipped.tolist() == [32767, -32768]


def test_base64_round_trip_and_errors() -> None:
    pcm = audio.int16_to_pcm16(tone(440, 24000, 0.02))
    text = audio.pcm16_to_b64(pcm)
    assert isinstance(text, str)
    assert audio.b64_to_pcm16(text) == pcm
    with pytest.raises(ValueError, match="base64"):
        audio.b64_to_pcm16("not base64!!")
    with pytest.raises(ValueError, match="even"):
        audio.b64_to_pcm16(audio.pcm16_to_b64(b"\x01\x02\x03"))


def test_to_mono_averages_channels_without_overflow() -> None:
    stereo = np.array([32767, 32767, -32768, -32768, 100, -100, 10, 20], dtype=np.int16)
    mono = audio.pcm16_to_int16(audio.to_mono(audio.int16_to_pcm16(stereo), 2))
    assert mono.tolist() == [32767, -32768, 0, 15]
    pcm = audio.int16_to_pcm16(stereo)
    assert audio.to_mono(pcm, 1) is pcm
    with pytest.raises(ValueError, match="channels"):
        audio.to_mono(pcm[:2], 2)


def test_levels() -> None:
    assert audio.rms(b"") == 0.0
    assert audio.dbfs(b"\x00\x00" * 100) == -120.0
    full_sine = audio.int16_to_pcm16(tone(1000, 24000, 1.0, amplitude=1.0))
    assert audio.dbfs(full_sine) == pytest.approx(-3.01, abs=0.05)
    half_sine = audio.int16_to_pcm16(tone(1000, 24000, 1.0, amplitude=0.5))
    assert audio.dbfs(half_sine) == pytest.approx(-9.03, abs=0.05)
    square = audio.int16_to_pcm16(np.array([32767, -32768] * 100, dtype=np.int16))
    assert audio.rms(square) == pytest.approx(1.0, abs=1e-4)


def test_duration_math() -> None:
    assert audio.ms_to_samples(20, 48000) == 960
    assert audio.ms_to_samples(32, 16000) == 512
    assert audio.samples_to_ms(512, 16000) == 32.0
    assert audio.samples_to_bytes(960, channels=2) == 3840
    assert audio.bytes_to_samples(3840, channels=2) == 960
    assert audio.pcm16_duration_ms(b"\x00" * 48000, 24000) == 1000.0
    for ms in (0, 1, 20, 333, 1000):
        assert audio.samples_to_ms(audio.ms_to_samples(ms, 24000), 24000) == pytest.approx(ms, abs=0.05)


@pytest.mark.parametrize(
    ("from_rate", "to_rate"), [(24000, 16000), (16000, 24000), (48000, 24000), (22050, 24000), (48000, 16000)]
)
def test_resample_keeps_length_and_pitch(from_rate: int, to_rate: int) -> None:
    src = tone(440, from_rate, 0.5)
    out = audio.pcm16_to_int16(audio.resample(audio.int16_to_pcm16(src), from_rate, to_rate))
    assert abs(out.size - src.size * to_rate / from_rate) <= 1
    assert peak_frequency(out, to_rate) == pytest.approx(440, abs=3)
    # No start delay: the output lines up with an ideal tone at the new rate.
    ideal = tone(440, to_rate, out.size / to_rate)[: out.size].astype(np.float64)
    assert np.max(np.abs(out[50:-50] - ideal[50:-50])) < 50


def test_resample_round_trip_24k_16k_24k() -> None:
    src = tone(440, 24000, 0.5)
    down = audio.resample(audio.int16_to_pcm16(src), 24000, 16000)
    back = audio.pcm16_to_int16(audio.resample(down, 16000, 24000)).astype(np.float64)
    assert back.size == src.size
    error = back[100:-100] - src[100:-100]
    snr_db = 10 * np.log10(np.mean(src[100:-100].astype(np.float64) ** 2) / np.mean(error**2))
    assert snr_db > 40


@pytest.mark.parametrize("n", [0, 1, 5, 31, 127, 128, 1001])
def test_resample_any_length(n: int) -> None:
    pcm = audio.int16_to_pcm16(np.full(n, 1000, dtype=np.int16))
    out = audio.pcm16_to_int16(audio.resample(pcm, 24000, 16000))
    assert abs(out.size - n * 2 / 3) <= 1
    if out.size > 40:  # away from the filter's edges a constant stays constant
        assert np.all(np.abs(out[20:-20] - 1000) <= 2)


def test_resample_same_rate_is_mono_passthrough() -> None:
    pcm = audio.int16_to_pcm16(np.array([1, 3, 5, 7], dtype=np.int16))
    assert audio.resample(pcm, 16000, 16000) == pcm
    assert audio.pcm16_to_int16(audio.resample(pcm, 16000, 16000, channels=2)).tolist() == [2, 6]


def test_stream_resampler_matches_one_shot_for_aiortc_frames() -> None:
    """20 ms stereo 48 kHz frames as aiortc delivers them, to 16 kHz mono for the VAD."""
    mono = tone(440, 48000, 1.0)
    stereo = np.repeat(mono, 2)  # interleaved L R L R
    stream = audio.StreamResampler(48000, 16000, channels=2)
    frame_bytes = audio.samples_to_bytes(960, channels=2)
    pcm = audio.int16_to_pcm16(stereo)
    chunks = [stream.process(pcm[i : i + frame_bytes]) for i in range(0, len(pcm), frame_bytes)]
    streamed = b"".join(chunks) + stream.flush()
    one_shot = audio.resample(audio.int16_to_pcm16(mono), 48000, 16000)
    assert len(streamed) == len(one_shot) == 32000
    diff = audio.pcm16_to_int16(streamed).astype(np.int32) - audio.pcm16_to_int16(one_shot)
    assert np.max(np.abs(diff)) <= 2
    assert stream.process(b"") == b""


def test_stream_resampler_rejects_bad_config() -> None:
    with pytest.raises(ValueError, match="resampler"):
        audio.StreamResampler(48000, 16000, channels=6)
    with pytest.raises(ValueError, match="channels"):
        audio.StreamResampler(48000, 16000, channels=2).process(b"\x00\x00")
