"""Peers made ahead of offers: a spare is gathered before the offer, used once, replaced, and closed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from openai import AsyncOpenAI

from tests.engine.conftest import EngineServer
from tests.engine.realtime_kit import RtcClient
from voxgate.engine.peer import SparePeers


async def wait_for(predicate: Callable[[], bool], within: float = 5.0) -> None:
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - the keeper has no event to wait on
            await asyncio.sleep(0.01)


def gathered(pc: RTCPeerConnection) -> bool:
    transceiver = pc.getTransceivers()[0]
    return bool(transceiver.receiver.transport.transport.iceGatherer.state == "completed")


async def test_a_spare_is_gathered_ahead_used_once_and_replaced() -> None:
    spares = SparePeers((), refill_delay_s=0.0)
    peers = []
    try:
        spares.start()
        await wait_for(lambda: spares.ready)
        peers.append(first := spares.take(audio=True))
        assert spares.hits == 1 and not spares.ready
        assert gathered(first.pc), "its ICE candidates were gathered before any offer"
        assert first.track is not None
        await wait_for(lambda: spares.ready)
        peers.append(second := spares.take(audio=True))
        assert second is not first and spares.hits == 2
    finally:
        await asyncio.gather(*(peer.close() for peer in peers))
        await spares.aclose()
    assert not spares.ready
    after = spares.take(audio=True)  # after closing, peers are still made on demand
    assert not gathered(after.pc)
    await after.close()


async def test_offers_without_audio_and_old_spares_get_new_peers() -> None:
    now = [1000.0]
    spares = SparePeers((), max_age_s=60.0, clock=lambda: now[0])
    peers = []
    try:
        spares.start()
        await wait_for(lambda: spares.ready)
        peers.append(data_only := spares.take(audio=False))
        assert data_only.pc.getTransceivers() == [] and data_only.track is None
        assert spares.ready and spares.hits == 0  # the spare (with audio) is kept for an audio offer
        now[0] += 61  # networks change: a spare's candidates are not used after max_age_s
        peers.append(fresh := spares.take(audio=True))
        assert spares.hits == 0 and not gathered(fresh.pc)
    finally:
        await asyncio.gather(*(peer.close() for peer in peers))
        await spares.aclose()


async def test_calls_are_answered_on_spares_and_work(server: EngineServer, client: AsyncOpenAI) -> None:
    spares = server.engine.spares
    for _ in range(2):
        await wait_for(lambda: spares.ready)  # made when the engine started, then after each call
        rtc = RtcClient()
        try:
            raw = await client.realtime.calls.with_raw_response.create(sdp=await rtc.offer())
            await rtc.connect(raw.http_response.text)
            await rtc.events.expect("session.created")
            rtc.send({"type": "session.update", "session": {"type": "realtime", "instructions": "Hi."}})
            assert (await rtc.events.expect("session.updated"))["session"]["instructions"] == "Hi."
        finally:
            await rtc.close()
    assert spares.hits == 2

    # An offer with no audio is answered without an audio section, on a peer of its own.
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
        assert spares.hits == 2
    finally:
        await pc.close()
