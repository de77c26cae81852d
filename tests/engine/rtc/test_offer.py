"""Offers are read once with aiortc's parser; an unusable one is a clear 400, never a failure in a task."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection

from tests.engine.conftest import API_KEY, EngineServer
from voxgate.engine.rtc.offer import read_offer
from voxgate.errors import InvalidRequest


async def _browser_like_offer(*, audio: bool = True, channel: bool = True) -> str:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        if audio:
            pc.addTransceiver("audio", direction="sendrecv")
        if channel:
            pc.createDataChannel("oai-events")
        await pc.setLocalDescription(await pc.createOffer())
        return str(pc.localDescription.sdp)
    finally:
        await pc.close()


def _without(sdp: str, prefix: str) -> str:
    return "".join(line for line in sdp.splitlines(keepends=True) if not line.startswith(prefix))


async def test_read_offer_says_what_the_offer_asks_for() -> None:
    full = read_offer(await _browser_like_offer())
    assert (full.audio, full.receives_audio, full.data_channel) == (True, True, True)
    channel_only = read_offer(await _browser_like_offer(audio=False))
    assert (channel_only.audio, channel_only.receives_audio, channel_only.data_channel) == (
        False,
        False,
        True,
    )
    listen_only = read_offer((await _browser_like_offer()).replace("a=sendrecv", "a=sendonly"))
    assert listen_only.audio and not listen_only.receives_audio


@pytest.mark.parametrize(
    ("mangle", "words"),
    [
        (lambda sdp: _without(sdp, "a=fingerprint"), "no DTLS fingerprint"),
        (lambda sdp: _without(sdp, "a=ice-pwd"), "no ICE credentials"),
        (lambda sdp: sdp.split("m=")[0], "at least one media section"),
        (lambda sdp: "hello", "starting with 'v=0'"),
    ],
    ids=["no-fingerprint", "no-ice-pwd", "no-media", "not-sdp"],
)
async def test_unusable_offers_are_refused_by_read_offer(mangle: object, words: str) -> None:
    sdp = mangle(await _browser_like_offer())  # type: ignore[operator]
    with pytest.raises(InvalidRequest) as caught:
        read_offer(sdp)
    assert (
        caught.value.code == "invalid_offer"
        and caught.value.param == "sdp"
        and caught.value.status_code == 400
    )
    assert words in caught.value.message


async def test_an_offer_with_neither_audio_nor_channel_is_refused() -> None:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        pc.addTransceiver("video", direction="sendrecv")
        await pc.setLocalDescription(await pc.createOffer())
        sdp = str(pc.localDescription.sdp)
    finally:
        await pc.close()
    with pytest.raises(InvalidRequest) as caught:
        read_offer(sdp)
    assert caught.value.code == "invalid_offer" and "audio section" in caught.value.message


@pytest.mark.parametrize("strip", ["a=fingerprint", "m=audio"])
async def test_the_calls_endpoint_answers_400_invalid_offer_and_builds_nothing(
    server: EngineServer, strip: str, caplog: pytest.LogCaptureFixture
) -> None:
    offer = await _browser_like_offer()
    if strip == "a=fingerprint":
        bad = _without(offer, "a=fingerprint")
    else:  # neither an audio section nor the data channel: a lone video section
        bad = offer.split("m=application")[0].replace("a=group:BUNDLE 0 1", "a=group:BUNDLE 0")
        bad = bad.replace("m=audio", "m=video")
    caplog.set_level(logging.ERROR)
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post(
            "/v1/realtime/calls",
            content=bad,
            headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/sdp"},
        )
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", "invalid_offer", "sdp")
    assert not server.engine._calls
    await asyncio.sleep(0.2)  # a task failing later would log "Task exception was never retrieved"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.records
