"""GPT-Live beside GA Realtime on the same local engine: voice-to-voice latency over WebRTC.

    .venv/bin/python bench/bench_live.py [--rounds 8] [--memory-sessions 50]

Each round makes one call per protocol, in alternating order (realtime first in even rounds, live first
in odd ones), on one engine with Silero VAD, Whisper tiny.en, espeak-ng and the echo responder, served by
uvicorn in this process (both contenders share it, so they see the same load). An aiortc caller speaks
the same sentence; the latency is from the sentence's last loud sample leaving the mic to the first
audible reply frame received. Printed: the median of each protocol and their ratio (live / realtime).
Both go through the same voice pipeline, so the ratio shows what the Live session adds or saves.

Then memory: ``--memory-sessions`` sequential GPT-Live WebSocket sessions (each speaks a sentence as fast
as it can be sent, hears the reply start, closes); this process's RSS (engine and client) after 5 and
after all of them, which should be within 10 % (nothing kept across sessions).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' WebRTC kit

import aioice.ice
from openai import AsyncOpenAI
from tests.engine.voice_kit import SENTENCES, SpeakingMic, TimedRtcClient, espeak, recognizer, speech_edges

from voxgate.engine.speech.tts import EspeakSynthesizer
from voxgate.engine.speech.vad import SileroModel
from voxgate.engine.voice.observer import voice_observer_factory
from voxgate.testing.server import EngineServer, serve_engine

SESSION = {"type": "realtime", "audio": {"input": {"transcription": {"model": "whisper-1"}}}}


async def one_call(server: EngineServer, protocol: str, speech: bytes, edge_end_ms: float) -> float:
    """Latency (ms) of one spoken turn in a fresh call of ``protocol``."""
    mic = SpeakingMic()
    rtc = TimedRtcClient(mic=mic)
    try:
        async with AsyncOpenAI(api_key=server.api_key, base_url=server.base_url, max_retries=0) as sdk:
            offer = await rtc.offer()
            if protocol == "realtime":
                raw = await sdk.realtime.calls.with_raw_response.create(sdp=offer, session=SESSION)  # type: ignore[arg-type]
                answer = raw.http_response.text
            else:
                live = await sdk.live.create(
                    session={"model": "gpt-live-1.1"}, transport={"type": "webrtc", "sdp": offer}
                )
                answer = live.transport.sdp
            await rtc.connect(answer)
            await asyncio.sleep(0.5)
            said = mic.say(speech)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                end = said.started_at + edge_end_ms / 1000 if said.done else None
                heard = rtc.first_sound_after(end) if end is not None else None
                if heard is not None and end is not None:
                    return (heard - end) * 1000
                await asyncio.sleep(0.01)
            raise TimeoutError(f"{protocol}: no reply heard")
    finally:
        await rtc.close()


def rss_mb() -> float:
    """This process's resident memory, MB."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


async def one_ws_session(server: EngineServer, speech: bytes) -> None:
    """A Live WebSocket session: a spoken turn, the reply's first words, the close."""
    ws_url = server.base_url.replace("http", "ws")
    async with (
        AsyncOpenAI(api_key=server.api_key, base_url=server.base_url, websocket_base_url=ws_url) as sdk,
        sdk.live.connect() as conn,
    ):
        await conn.session.start(session={"model": "gpt-live-1"})
        frames = [speech[i : i + 2400] for i in range(0, len(speech), 2400)] + [bytes(2400)] * 20
        for frame in frames:
            await conn.session.input_audio.append(audio=base64.b64encode(frame).decode())

        async def keep_time() -> None:
            while True:
                await conn.session.input_audio.append(audio=base64.b64encode(bytes(2400)).decode())
                await asyncio.sleep(0.02)

        clock = asyncio.ensure_future(keep_time())
        try:
            async with asyncio.timeout(30):
                async for event in conn:
                    if event.type == "session.output_transcript.delta":
                        break
        finally:
            clock.cancel()
            await asyncio.gather(clock, return_exceptions=True)
        await conn.session.close()
        async with asyncio.timeout(10):
            async for event in conn:
                if event.type == "session.closed":
                    break


async def main(rounds: int, memory_sessions: int) -> None:
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
    speech = espeak(SENTENCES[0])
    _, edge_end = speech_edges(speech)
    results: dict[str, list[float]] = {"realtime": [], "live": []}
    observer = voice_observer_factory(SileroModel().detector, recognizer())
    async with serve_engine(observer_factory=observer, synthesizer=EspeakSynthesizer()) as server:
        await one_call(server, "realtime", speech, edge_end)  # warm-up, not counted
        for index in range(rounds):
            order = ("realtime", "live") if index % 2 == 0 else ("live", "realtime")
            for protocol in order:
                results[protocol].append(await one_call(server, protocol, speech, edge_end))
            print(
                f"  round {index + 1}: " + ", ".join(f"{p} {results[p][-1]:.0f} ms" for p in order),
                flush=True,
            )
    realtime, live = statistics.median(results["realtime"]), statistics.median(results["live"])
    print(
        f"voice-to-voice median over {rounds} rounds: realtime {realtime:.0f} ms, live {live:.0f} ms, "
        f"ratio live/realtime {live / realtime:.2f}"
    )
    if memory_sessions:
        observer = voice_observer_factory(SileroModel().detector, recognizer())
        async with serve_engine(observer_factory=observer, synthesizer=EspeakSynthesizer()) as server:
            idle = rss_mb()
            after: dict[int, float] = {}
            for index in range(1, memory_sessions + 1):
                await one_ws_session(server, speech)
                if index in (5, memory_sessions):
                    after[index] = rss_mb()
            growth = (after[memory_sessions] - after[5]) / after[5] * 100
            print(
                f"RSS: idle {idle:.0f} MB, after 5 Live sessions {after[5]:.0f} MB, after {memory_sessions} "
                f"{after[memory_sessions]:.0f} MB ({growth:+.1f} %)"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--memory-sessions", type=int, default=50)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.rounds, arguments.memory_sessions))
