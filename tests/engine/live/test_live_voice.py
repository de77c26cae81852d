"""GPT-Live with the engine's real speech stack (Silero VAD, Whisper, espeak-ng): a caller speaks a
sentence into its WebRTC mic, the data channel shows what was heard and what is said back, the reply is
heard on the call's track, and a sideband sees the same turn."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from openai import AsyncOpenAI

from tests.engine.live.live_kit import LiveReader
from tests.engine.voice_kit import SENTENCES, SpeakingMic, TimedRtcClient, espeak, recognizer
from voxgate.engine.speech.tts import EspeakSynthesizer
from voxgate.engine.speech.vad import SileroModel
from voxgate.engine.speech.wer import word_error_rate
from voxgate.engine.voice.observer import voice_observer_factory
from voxgate.testing.server import EngineServer

MakeServer = Callable[..., Awaitable[EngineServer]]


async def test_a_spoken_turn_is_heard_transcribed_and_answered_aloud(make_server: MakeServer) -> None:
    server = await make_server(
        observer_factory=voice_observer_factory(SileroModel().detector, recognizer()),
        synthesizer=EspeakSynthesizer(),
    )
    mic = SpeakingMic()
    rtc = TimedRtcClient(mic=mic)
    inbox: asyncio.Queue[str] = asyncio.Queue()
    rtc.channel.on("message", inbox.put_nowait)
    dc = LiveReader(inbox.get, "data_channel")
    ws_url = server.base_url.replace("http", "ws")
    try:
        async with AsyncOpenAI(
            api_key=server.api_key, base_url=server.base_url, websocket_base_url=ws_url
        ) as sdk:
            created = await sdk.live.create(
                session={"model": "gpt-live-1.1", "audio": {"output": {"voice": "cedar"}}},
                transport={"type": "webrtc", "sdp": await rtc.offer()},
            )
            await rtc.connect(created.transport.sdp)
            await dc.until("session.started")
            async with sdk.live.sideband.connect(session_id=created.session.id) as sideband:
                sb = LiveReader(sideband.recv_bytes, "sideband")
                await sb.until("session.started")
                await asyncio.sleep(0.4)
                said = mic.say(espeak(SENTENCES[1]))
                said_back = await dc.until("session.output_transcript.delta", within=30)
                heard = "".join(e["delta"] for e in dc.of("session.input_transcript.delta"))
                assert word_error_rate(SENTENCES[1], heard) <= 0.3, heard
                assert said_back["delta"].startswith("You said")
                await sb.until("session.output_audio.delta", within=10)
                assert "".join(e["delta"] for e in sb.of("session.input_transcript.delta")) == heard
                for _ in range(100):
                    if rtc.first_sound_after(said.ended_at) is not None:
                        break
                    await asyncio.sleep(0.1)
                else:
                    raise AssertionError("the reply was never heard on the call's track")
                await sideband.session.close()
                assert (await sb.until("session.closed"))["reason"] == "close_requested"
    finally:
        await rtc.close()
