"""A Live WebSocket session's turns in detail: barge-in silences the reply on the output track, muting
stops what the model hears but not the sideband's reflection, and a fixture plays on the output."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from openai import AsyncOpenAI
from openai.resources.live.live import AsyncLiveConnection

from tests.engine.live.live_kit import LiveReader
from tests.engine.voice.test_voice_observer import LoudnessVad, ScriptedRecognizer
from voxgate.engine.config import EngineConfig
from voxgate.engine.voice.observer import voice_observer_factory
from voxgate.testing.server import TEST_API_KEY, EngineServer
from voxgate.testing.speech import rms, tone

MakeServer = Callable[..., Awaitable[EngineServer]]
SILENCE = bytes(2400)  # 50 ms of PCM16 24 kHz
LOUD = tone(50, amplitude=12000)


@pytest.fixture
async def sdk(make_server: MakeServer) -> AsyncIterator[AsyncOpenAI]:
    config = EngineConfig(api_keys=frozenset({TEST_API_KEY}))
    server = await make_server(
        config, observer_factory=voice_observer_factory(LoudnessVad, ScriptedRecognizer())
    )
    ws = server.base_url.replace("http", "ws")
    async with AsyncOpenAI(api_key=TEST_API_KEY, base_url=server.base_url, websocket_base_url=ws) as client:
        yield client


async def _send(conn: AsyncLiveConnection, *chunks: bytes) -> None:
    for chunk in chunks:
        await conn.session.input_audio.append(audio=base64.b64encode(chunk).decode())


class Feeder:
    """Keeps the session's timeline moving: a 50 ms frame every 10 ms, silent unless ``loud``."""

    def __init__(self, conn: AsyncLiveConnection) -> None:
        self.conn = conn
        self.loud = False
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Feeder:
        self._task = asyncio.ensure_future(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await _send(self.conn, LOUD if self.loud else SILENCE)
            await asyncio.sleep(0.01)

    async def speak(self, frames: int) -> None:
        """Be loud for ``frames`` frames."""
        self.loud = True
        await asyncio.sleep(frames * 0.01)
        self.loud = False


def _loudness(reader: LiveReader, last: int) -> float:
    frames = [base64.b64decode(e["delta"]) for e in reader.of("session.output_audio.delta")[-last:]]
    return rms(b"".join(frames))


async def _started(sdk: AsyncOpenAI, conn: AsyncLiveConnection) -> tuple[LiveReader, str]:
    await conn.session.start(session={"model": "gpt-live-1"})
    ws = LiveReader(conn.recv_bytes, "websocket")
    return ws, (await ws.until("session.started"))["session"]["id"]


async def test_speaking_over_the_reply_silences_it(sdk: AsyncOpenAI) -> None:
    async with sdk.live.connect() as conn:
        ws, _ = await _started(sdk, conn)
        async with Feeder(conn) as feeder:
            await asyncio.sleep(0.1)
            await feeder.speak(10)
            await ws.until("session.output_transcript.delta")
            count = len(ws.of("session.output_audio.delta"))
            while len(ws.of("session.output_audio.delta")) < count + 3:
                await ws.next()
            assert _loudness(ws, 2) > 500, "the reply is playing"
            await feeder.speak(6)  # the user speaks again: the model stops at once
            count = len(ws.of("session.output_audio.delta"))
            while len(ws.of("session.output_audio.delta")) < count + 3:
                await ws.next()
            assert _loudness(ws, 2) < 50, "the reply still plays over the user"


async def test_muted_input_is_reflected_but_not_heard(sdk: AsyncOpenAI) -> None:
    # This client reads only the sideband: unbounded, its primary's unread events never stop websockets
    # from reading (bounded, its close waited out the 10 s close timeout behind them).
    async with sdk.live.connect(websocket_connection_options={"max_queue": None}) as conn:
        ws, session_id = await _started(sdk, conn)
        async with sdk.live.sideband.connect(session_id=session_id) as sideband:
            sb = LiveReader(sideband.recv_bytes, "sideband")
            await sb.until("session.started")
            await sideband.session.input_audio.mute()
            await sb.until("session.input_audio.muted")
            await _send(conn, *[SILENCE] * 6, *[LOUD] * 10, *[SILENCE] * 30)
            reflected = await sb.until("session.input_audio.append")
            while len(sb.of("session.input_audio.append")) < 8:
                await sb.next()
            assert max(rms(base64.b64decode(e["audio"])) for e in sb.of("session.input_audio.append")) > 1000
            assert reflected["audio"]
            assert not [e for e in sb.seen + ws.seen if e["type"] == "session.input_transcript.delta"]
            await sideband.session.input_audio.unmute()
            await sb.until("session.input_audio.unmuted")
            await _send(conn, *[LOUD] * 10, *[SILENCE] * 10)
            assert "hello" in (await sb.until("session.input_transcript.delta"))["delta"]


async def test_a_fixture_plays_on_the_output(sdk: AsyncOpenAI) -> None:
    async with sdk.live.connect() as conn:
        ws, session_id = await _started(sdk, conn)
        async with sdk.live.sideband.connect(session_id=session_id) as sideband:
            sb = LiveReader(sideband.recv_bytes, "sideband")
            await sb.until("session.started")
            clip = tone(300, amplitude=9000)
            await sideband.send(
                {
                    "type": "session.output_audio.fixture.play",
                    "event_id": "c_fix",
                    "audio": base64.b64encode(clip).decode(),
                }
            )
            assert (await sb.until("session.output_audio.fixture.playing"))["client_event_id"] == "c_fix"

            async def keep_time() -> None:
                while True:
                    await _send(conn, SILENCE)
                    await asyncio.sleep(0.01)

            clock = asyncio.ensure_future(keep_time())
            try:
                played = await sb.until("session.output_audio.fixture.played")
                assert played["client_event_id"] == "c_fix"
                out = [e for e in sb.seen if e["type"] == "session.output_audio.delta"]
                assert sum(len(base64.b64decode(e["delta"])) for e in out) == len(clip)
                assert out[0]["start_ms"] < out[-1]["end_ms"]
            finally:
                clock.cancel()
                await asyncio.gather(clock, return_exceptions=True)
            # The primary's output track carried it too.
            with contextlib.suppress(TimeoutError):
                while True:
                    await ws.next(within=1)
            assert max(rms(base64.b64decode(e["delta"])) for e in ws.of("session.output_audio.delta")) > 500
