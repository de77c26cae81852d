"""The peer an answer starts from: with an audio transceiver for offers with audio, without otherwise."""

from __future__ import annotations

import asyncio

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from openai import AsyncOpenAI

from tests.engine.conftest import EngineServer
from voxgate.engine.rtc.peer import Peer


async def test_a_peer_has_audio_only_when_the_offer_does() -> None:
    with_audio, without = Peer((), audio=True), Peer((), audio=False)
    try:
        (transceiver,) = with_audio.pc.getTransceivers()
        assert transceiver.direction == "sendrecv" and with_audio.track is not None
        assert [c.mimeType for c in transceiver._preferred_codecs] == [
            "audio/opus",
            "audio/PCMU",
            "audio/PCMA",
        ]
        assert without.pc.getTransceivers() == [] and without.track is None
    finally:
        await asyncio.gather(with_audio.close(), without.close())
    assert with_audio.pc.connectionState == "closed"


async def test_an_offer_without_audio_is_answered_without_audio(
    server: EngineServer, client: AsyncOpenAI
) -> None:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        channel = pc.createDataChannel("oai-events")
        opened = asyncio.Event()
        channel.on("open", opened.set)
        await pc.setLocalDescription(await pc.createOffer())
        raw = await client.realtime.calls.with_raw_response.create(sdp=pc.localDescription.sdp)
        answer = raw.http_response.text
        assert "m=audio" not in answer and "webrtc-datachannel" in answer
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        async with asyncio.timeout(5):
            await opened.wait()
    finally:
        await pc.close()
