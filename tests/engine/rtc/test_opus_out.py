"""The call's own Opus encoder: speech survives the round trip, silence costs one cached packet, and over
the wire an Opus call gets the engine's 32 kb/s mono packets while a G.711 call still gets aiortc's."""

from __future__ import annotations

import asyncio
from fractions import Fraction

import numpy as np
from aiortc import RTCRtpSender
from aiortc.codecs.opus import OpusDecoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtp import RtpPacket
from openai import AsyncOpenAI

from tests.engine.realtime_kit import RtcClient, rms
from tests.engine.rtc.test_webrtc import USER_TEXT
from voxgate.engine.rtc.opus_out import FRAME_SAMPLES, TAIL_FRAMES, OpusOut


def tone(frames: int, hz: float = 440.0, level: float = 0.3) -> list[bytes]:
    t = np.arange(frames * FRAME_SAMPLES) / 24000
    samples = (np.sin(2 * np.pi * hz * t) * level * 32767).astype("<i2")
    return [samples[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES].tobytes() for i in range(frames)]


def decode(packets: list[bytes]) -> bytes:
    """What a caller hears, by aiortc's own decoder (48 kHz stereo), as 48 kHz mono (left channel)."""
    decoder = OpusDecoder()
    out = bytearray()
    for index, data in enumerate(packets):
        for frame in decoder.decode(JitterFrame(data=data, timestamp=index * 960)):
            out += frame.to_ndarray()[0, ::2].astype("<i2").tobytes()
    return bytes(out)


def dominant_hz(pcm48: bytes) -> float:
    samples = np.frombuffer(pcm48, dtype="<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.argmax(spectrum) * 48000 / samples.size)


def test_speech_survives_the_round_trip_and_silence_is_one_cached_packet() -> None:
    out = OpusOut()
    pts = iter(range(0, 10**9, FRAME_SAMPLES))
    silent_before = [bytes(out.encode(None, next(pts))) for _ in range(5)]
    speech = [bytes(out.encode(pcm, next(pts))) for pcm in tone(50)]
    silent_after = [bytes(out.encode(None, next(pts))) for _ in range(20)]

    # Nothing playing: the same packet every time, and it decodes to silence.
    assert len(set(silent_before)) == 1 and rms(decode(silent_before)) < 1
    # The tone comes out as the tone: its pitch and about its level (0.3 * 0.707 RMS).
    heard = decode(silent_before + speech)[5 * 960 + 960 * 10 :]
    assert abs(dominant_hz(heard) - 440) < 10 and 0.15 * 32768 < rms(heard) < 0.3 * 32768
    # At 32 kb/s a 20 ms packet is about 80 bytes (aiortc's 96 kb/s stereo would be about 240).
    assert 40 < np.mean([len(p) for p in speech]) < 120
    # After audio the encoder runs a few frames more (its lookahead drains), then the cached packet again.
    assert silent_after[TAIL_FRAMES:] == [silent_before[0]] * (20 - TAIL_FRAMES)
    assert all(p != silent_before[0] for p in silent_after[:1])
    assert rms(decode(speech + silent_after)[-960 * 10 :]) < 1


def test_packets_carry_the_frame_time() -> None:
    out = OpusOut()
    packet = out.encode(tone(1)[0], 4800)
    assert packet.pts == 4800 and packet.time_base == Fraction(1, 24000)  # aiortc makes it 9600 at 48 kHz
    assert out.encode(None, 5280).pts == 5280


async def hear_a_reply(client: AsyncOpenAI, codec: str) -> tuple[RtcClient, list[int]]:
    """A call whose caller offers only ``codec`` hears a reply; returns the client and the payload sizes
    of the RTP packets received while the reply played."""
    rtc = RtcClient()
    (transceiver,) = rtc.pc.getTransceivers()
    transceiver.setCodecPreferences(
        [c for c in RTCRtpSender.getCapabilities("audio").codecs if c.mimeType.lower() == codec]
    )
    sizes: list[int] = []
    receiver = transceiver.receiver
    handle = receiver._handle_rtp_packet

    async def record(packet: RtpPacket, arrival_time_ms: int) -> None:
        sizes.append(len(packet.payload))
        await handle(packet, arrival_time_ms)

    receiver._handle_rtp_packet = record  # type: ignore[method-assign]  # the payloads, as received
    raw = await client.realtime.calls.with_raw_response.create(sdp=await rtc.offer())
    answer = raw.http_response.text
    assert f"{codec.removeprefix('audio/')}/" in answer.lower()
    await rtc.connect(answer)
    await rtc.events.expect("session.created")
    rtc.send({"type": "conversation.item.create", "item": USER_TEXT})
    await rtc.events.until("conversation.item.done")
    await asyncio.sleep(0.3)
    silence = rms(bytes(rtc.received_audio[-4800:]))
    sizes.clear()
    rtc.send({"type": "response.create"})
    await rtc.events.until("output_audio_buffer.stopped", within=10)
    assert silence < 50 and rms(bytes(rtc.received_audio[-48000:])) > 500
    return rtc, sizes


async def test_an_opus_call_gets_the_engines_packets(client: AsyncOpenAI) -> None:
    rtc, sizes = await hear_a_reply(client, "audio/opus")
    try:
        # 32 kb/s mono: about 80 bytes a packet while speaking (aiortc's 96 kb/s stereo: about 240).
        assert len(sizes) > 20 and 40 < float(np.mean(sizes)) < 120
    finally:
        await rtc.close()


async def test_a_g711_call_still_gets_its_audio(client: AsyncOpenAI) -> None:
    rtc, sizes = await hear_a_reply(client, "audio/pcmu")
    try:
        assert len(sizes) > 20 and set(sizes) == {160}  # 20 ms of 8 kHz µ-law, encoded by aiortc
    finally:
        await rtc.close()
