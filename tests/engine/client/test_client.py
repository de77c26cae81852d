"""``voxgate.client.RealtimeClient`` against the engine served by uvicorn on 127.0.0.1, and the CLI on top.

Every event a client receives here goes through ``check_server_event`` (official types, no unknown key):
directly for the in-process clients, and through an engine-side sink for the CLI's subprocess.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from tests.conftest import service_missing
from tests.engine.conftest import API_KEY, EngineServer
from tests.engine.realtime_kit import EventReader, check_server_event
from voxgate.client import CallRejected, ConnectionClosed, RealtimeClient, read_wav
from voxgate.client.target import resolve_target
from voxgate.engine.audio import rms
from voxgate.engine.realtime.realtime_session import RealtimeSession
from voxgate.engine.speech.tts import EspeakSynthesizer
from voxgate.errors import NotFound

MakeServer = Callable[..., Awaitable[EngineServer]]
USER_TEXT = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}
PHRASE = "the quick brown fox jumps over the lazy dog"


def calls_url(server: EngineServer) -> str:
    return f"{server.base_url}/realtime/calls"


def reader(client: RealtimeClient) -> EventReader:
    """Strictly checked events of ``client`` (with ``expect``/``until``/``nothing``)."""

    async def source() -> str:
        return json.dumps(await client.receive())

    return EventReader(source)


async def wait_for(predicate: Callable[[], bool], within: float = 5.0) -> None:
    """Poll state that has no event to wait on."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - polling state owned by other libraries
            await asyncio.sleep(0.02)


def loud_ms(pcm16_24k: bytes, threshold: float = 0.02) -> int:
    """Milliseconds of ``pcm16_24k`` in 10 ms windows louder than ``threshold`` (fraction of full scale)."""
    window = 480
    return sum(
        10
        for i in range(0, len(pcm16_24k) - window + 1, window)
        if rms(pcm16_24k[i : i + window]) > threshold
    )


def write_wav(path: Path, pcm: bytes, rate: int, channels: int = 1, width: int = 2) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(pcm)
    return path


def sine(ms: int, rate: int, channels: int = 1, amplitude: float = 0.3) -> bytes:
    n = rate * ms // 1000
    samples = [int(amplitude * 32767 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(n)]
    return struct.pack(f"<{n * channels}h", *(s for s in samples for _ in range(channels)))


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A spoken phrase with silence around it, made with espeak-ng + sox (as a browser's fake mic)."""
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        service_missing("espeak-ng and sox", "not installed; make test installs them as root")
    folder = tmp_path_factory.mktemp("speech")
    raw, mono = folder / "raw.wav", folder / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(raw), PHRASE], check=True)
    subprocess.run(["sox", str(raw), "-r", "48000", "-c", "1", "-b", "16", str(mono)], check=True)
    subprocess.run(["sox", str(mono), str(folder / "mic.wav"), "pad", "0.3", "0.3"], check=True)
    return folder / "mic.wav"


# ---- the client ------------------------------------------------------------------------------------


def test_public_api() -> None:
    import voxgate.client

    assert sorted(voxgate.client.__all__) == sorted(
        [
            "EVENTS_CHANNEL",
            "CallRejected",
            "ConnectTimeout",
            "ConnectTimings",
            "ConnectionClosed",
            "GatewayToken",
            "Microphone",
            "RealtimeClient",
            "RealtimeClientError",
            "RemoteAudio",
            "TranscriptionFailed",
            "WavRecorder",
            "is_ephemeral_key",
            "mint_from_gateway",
            "read_wav",
            "transcribe_file",
        ]
    )
    assert all(hasattr(voxgate.client, name) for name in voxgate.client.__all__)


async def test_standard_key_multipart_session_and_text_turn(server: EngineServer) -> None:
    session = {"type": "realtime", "instructions": "Hi.", "output_modalities": ["text"]}
    async with RealtimeClient(calls_url(server), API_KEY, session=session) as client:
        events = reader(client)
        assert client.call_id and client.call_id.startswith("rtc_")
        assert client.location == f"/v1/realtime/calls/{client.call_id}"
        assert client.timings is not None and client.timings.total_ms < 3000
        call = server.engine.call(client.call_id)

        created = await events.expect("session.created")
        assert created["session"]["instructions"] == "Hi."  # the multipart session part arrived
        client.send({"type": "session.update", "session": {"type": "realtime", "instructions": "Be brief."}})
        updated = await events.expect("session.updated")
        assert updated["session"]["instructions"] == "Be brief."
        assert updated["session"]["id"] == created["session"]["id"]

        client.send({"type": "conversation.item.create", "item": USER_TEXT})
        client.send({"type": "response.create"})
        sequence = await events.until("response.done")
        assert sequence[-1]["response"]["output"][0]["content"][0]["text"].startswith('You said: "hello"')
        await events.expect("rate_limits.updated")
    # Leaving the block hung up with the standard key: the engine closed and forgot the call.
    assert call.closed.is_set()
    with pytest.raises(NotFound):
        server.engine.call(client.call_id)


async def test_ephemeral_key_and_remote_audio(make_server: MakeServer, tmp_path: Path) -> None:
    server = await make_server(synthesizer=EspeakSynthesizer())
    async with server.client() as sdk:
        secret = await sdk.realtime.client_secrets.create(
            session={"type": "realtime", "instructions": "From the key."}
        )
    with pytest.raises(ValueError, match="ek_"):
        RealtimeClient(calls_url(server), secret.value, session={"type": "realtime"})

    client = RealtimeClient(calls_url(server), secret.value)
    try:
        await client.connect()
        events = reader(client)
        created = await events.expect("session.created")
        assert created["session"]["instructions"] == "From the key."
        assert created["session"]["output_modalities"] == ["audio"]
        recording = client.remote_audio.record(tmp_path / "heard.wav")
        client.remote_audio.take()  # whatever arrived before the response

        client.send({"type": "conversation.item.create", "item": USER_TEXT})
        client.send({"type": "response.create"})
        sequence = await events.until("output_audio_buffer.stopped", within=15)
        types = [e["type"] for e in sequence]
        assert "response.output_audio.delta" not in types  # audio comes over RTP
        await asyncio.sleep(0.2)  # the jitter buffer's tail
        heard = client.remote_audio.take()
        # espeak says 'You said: "hello"': about a second of speech, received as 24 kHz mono PCM16.
        assert loud_ms(heard) > 400, loud_ms(heard)
        client.remote_audio.stop_recording()
        pcm, rate, channels = read_wav(recording.path)
        assert (rate, channels) == (24000, 1) and loud_ms(pcm) > 400
    finally:
        await client.aclose()
    # No hangup request with an ek_ key: closing the peer connection ends the call for the engine too.
    await wait_for(lambda: not server.engine._calls)


async def test_hangup_and_aclose_leave_nothing_running(server: EngineServer) -> None:
    baseline = asyncio.all_tasks()
    client = RealtimeClient(calls_url(server), API_KEY)
    await client.connect()
    await reader(client).expect("session.created")
    call = server.engine.call(client.call_id or "")

    await client.hangup()
    assert call.closed.is_set()
    with pytest.raises(NotFound):
        server.engine.call(client.call_id or "")
    with pytest.raises(ConnectionClosed):
        await client.receive()
    assert [event async for event in client.events()] == []
    assert client.peer_connection is not None and client.peer_connection.connectionState == "closed"
    assert client.remote_audio.ended and await client.remote_audio.read() == b""
    await client.aclose()  # idempotent
    await client.hangup()  # and nothing is posted any more
    for _ in range(5):
        await asyncio.sleep(0)
    leftover = asyncio.all_tasks() - baseline - {asyncio.current_task()}
    assert not leftover, leftover


async def test_microphone_plays_files_in_real_time(server: EngineServer, tmp_path: Path) -> None:
    # 16 kHz stereo in: the client resamples to 48 kHz mono for the encoder.
    tone = write_wav(tmp_path / "tone.wav", sine(600, 16000, channels=2), 16000, channels=2)
    async with RealtimeClient(calls_url(server), API_KEY) as client:
        events = reader(client)
        await events.expect("session.created")
        update = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}
        client.send({"type": "session.update", "session": update})
        await events.expect("session.updated")
        client.send({"type": "input_audio_buffer.clear"})  # the silence sent so far
        await events.expect("input_audio_buffer.cleared")

        started = time.monotonic()
        assert client.microphone.play_wav(tone) == pytest.approx(0.6)
        await client.microphone.wait_played()
        elapsed = time.monotonic() - started
        # Paced in real time, not sent in a burst (the upper bound only rules out a stall: 2 cores are
        # shared with the engine's speech models).
        assert 0.5 < elapsed < 3.0, elapsed
        await asyncio.sleep(0.3)  # network and decoder latency; the mic sends silence meanwhile

        client.send({"type": "input_audio_buffer.commit"})
        committed = await events.expect("input_audio_buffer.committed")
        await events.until("conversation.item.done")
        client.send({"type": "conversation.item.retrieve", "item_id": committed["item_id"]})
        item = (await events.expect("conversation.item.retrieved"))["item"]
        heard = base64.b64decode(item["content"][0]["audio"])
        assert 540 <= loud_ms(heard) <= 660, loud_ms(heard)

        # More audio can be queued while connected, and silence() drops what is not sent yet.
        client.microphone.play_wav(tone)
        assert client.microphone.pending_ms > 500
        client.microphone.silence()
        assert client.microphone.pending_ms == 0
        await client.microphone.wait_played()


async def test_microphone_jitter_buffer_for_live_capture() -> None:
    from voxgate.client import Microphone

    mic = Microphone(jitter_ms=60)
    frame_bytes = 960 * 2
    audio = sine(400, 48000)

    async def next_is_loud() -> bool:
        frame = await mic.recv()
        return rms(bytes(frame.planes[0])[:frame_bytes]) > 0.1

    try:
        mic.feed(audio[:frame_bytes])  # 20 ms: less than the jitter buffer, held back
        assert not await next_is_loud()
        mic.feed(audio[frame_bytes : 3 * frame_bytes])  # 60 ms queued: sending starts
        assert [await next_is_loud() for _ in range(4)] == [True, True, True, False]  # then ran dry
        mic.feed(audio[:frame_bytes])
        assert not await next_is_loud()  # refilling
        mic.feed(audio)  # far more than 4 x 60 ms at once: cut back to 60 ms
        assert [await next_is_loud() for _ in range(4)] == [True, True, True, False]
    finally:
        mic.stop()


def test_read_wav_sample_widths(tmp_path: Path) -> None:
    pcm16 = sine(50, 8000)
    samples = struct.unpack(f"<{len(pcm16) // 2}h", pcm16)
    wide = {
        1: bytes((s >> 8) + 128 for s in samples),
        3: b"".join(struct.pack("<i", s << 8)[:3] for s in samples),
        4: b"".join(struct.pack("<i", s << 16) for s in samples),
    }
    for width, data in wide.items():
        pcm, rate, channels = read_wav(write_wav(tmp_path / f"w{width}.wav", data, 8000, width=width))
        assert (rate, channels) == (8000, 1)
        got = struct.unpack(f"<{len(pcm) // 2}h", pcm)
        assert max(abs(a - b) for a, b in zip(got, samples, strict=True)) <= (256 if width == 1 else 0)


async def test_refused_and_unreachable(server: EngineServer) -> None:
    client = RealtimeClient(calls_url(server), "sk-wrong-key-0123456789")
    with pytest.raises(CallRejected) as refused:
        await client.connect()
    assert (refused.value.status, refused.value.code) == (401, "invalid_api_key")
    assert client.peer_connection is not None and client.peer_connection.connectionState == "closed"
    assert not server.engine._calls

    nowhere = RealtimeClient("http://127.0.0.1:9/v1/realtime/calls", API_KEY, connect_timeout=2)
    with pytest.raises(CallRejected) as unreachable:
        await nowhere.connect()
    assert unreachable.value.status == 0


# ---- the CLI ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def recognizer() -> Any:
    from voxgate.engine.speech.asr import WhisperRecognizer

    return WhisperRecognizer()


@pytest.fixture
async def voice_server(make_server: MakeServer, recognizer: Any) -> tuple[EngineServer, list[dict[str, Any]]]:
    """An engine with the real voice pipeline (Silero VAD, Whisper) and espeak-ng, and a list of every
    event its sessions sent: how the test checks what the CLI in another process received."""
    from voxgate.engine.speech.vad import SileroModel
    from voxgate.engine.voice import voice_observer_factory

    sent: list[dict[str, Any]] = []
    voice = voice_observer_factory(SileroModel().detector, recognizer)

    def observe(session: RealtimeSession) -> Any:
        async def record(text: str) -> None:
            sent.append(json.loads(text))

        session.add_sink(record)
        return voice(session)

    return await make_server(synthesizer=EspeakSynthesizer(), observer_factory=observe), sent


async def run_cli(*args: str, env: dict[str, str] | None = None, within: float = 60) -> tuple[int, str, str]:
    """``python -m voxgate ARGS`` in a subprocess with a clean VOXGATE_* environment."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("VOXGATE_", "OPENAI_"))}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "voxgate",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**clean, **(env or {})},
    )
    try:
        async with asyncio.timeout(within):
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode or 0, out.decode(), err.decode()


@pytest.mark.parametrize("turn_detection", [True, False], ids=["server-vad", "manual-commit"])
async def test_cli_transcribe(
    voice_server: tuple[EngineServer, list[dict[str, Any]]], speech_wav: Path, turn_detection: bool
) -> None:
    server, sent = voice_server
    code, out, err = await run_cli(
        "transcribe",
        str(speech_wav),
        "--url",
        calls_url(server),
        "--language",
        "en",
        "--tail",
        "0.8",
        "--turn-detection" if turn_detection else "--no-turn-detection",
        env={"VOXGATE_ENGINE__API_KEYS": json.dumps([API_KEY])},  # the key fallback for non-OpenAI URLs
    )
    assert code == 0, err
    assert " ".join(out.lower().replace(".", "").split()).startswith("the quick brown fox"), out
    assert "connected to" in err
    for event in sent:
        check_server_event(event)
    types = [e["type"] for e in sent]
    assert types[:2] == ["session.created", "session.updated"]
    update = sent[1]["session"]["audio"]["input"]
    assert update["transcription"] == {"model": "gpt-4o-mini-transcribe", "language": "en"}
    assert "error" not in types and "response.created" not in types  # nobody answers a transcription
    if turn_detection:
        # The engine's turn detector split the turns; the CLI committed nothing itself.
        assert update["turn_detection"]["create_response"] is False
        assert "input_audio_buffer.speech_stopped" in types
        assert types.count("input_audio_buffer.committed") == types.count("input_audio_buffer.speech_stopped")
    else:
        # No turn detection: the CLI committed the whole file once, after it.
        assert update["turn_detection"] is None
        assert "input_audio_buffer.speech_started" not in types
        assert types.count("input_audio_buffer.committed") == 1
    assert "conversation.item.input_audio_transcription.completed" in types
    await wait_for(lambda: not server.engine._calls)  # the CLI hung up


async def test_transcribe_file_reports_a_server_without_asr(server: EngineServer, tmp_path: Path) -> None:
    """The default test engine has no voice pipeline: the audio is committed but never transcribed."""
    from voxgate.client import TranscriptionFailed, transcribe_file

    tone = write_wav(tmp_path / "tone.wav", sine(300, 24000), 24000)
    async with RealtimeClient(calls_url(server), API_KEY) as client:
        with pytest.raises(TranscriptionFailed, match="1 committed turn"):
            await transcribe_file(client, tone, tail_s=0.2, wait_s=1.0, on_event=check_server_event)


async def test_cli_talk_without_a_sound_library(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from voxgate.cli import main

    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import sounddevice → ImportError
    result = CliRunner().invoke(main, ["talk", "--key", API_KEY])
    assert result.exit_code == 1
    assert "no sound library" in result.output and "sounddevice" in result.output


class FakeStream:
    """A sounddevice Raw*Stream stand-in: a thread calls ``callback`` every 20 ms, like PortAudio does."""

    def __init__(self, *, samplerate: int, channels: int, dtype: str, blocksize: int, callback: Any) -> None:
        assert (channels, dtype, blocksize) == (1, "int16", samplerate // 50)
        self.block_bytes = blocksize * 2
        self.callback = callback
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> FakeStream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)

    def _run(self) -> None:
        # On an absolute 20 ms grid, catching up after a late wake-up: a sound card's clock does not drift.
        due = time.monotonic()
        while not self._stop.is_set():
            due += 0.02
            self._stop.wait(max(0.0, due - time.monotonic()))
            self.tick()

    def tick(self) -> None:
        raise NotImplementedError


class FakeSoundDevice:
    """The parts of the ``sounddevice`` module that ``voxgate talk`` uses, with a scripted microphone."""

    def __init__(self, speech_48k: bytes) -> None:
        self.speech = speech_48k
        self.played = bytearray()
        self.mic_done = threading.Event()
        device = self

        class RawInputStream(FakeStream):
            def tick(self) -> None:
                chunk, device.speech = device.speech[: self.block_bytes], device.speech[self.block_bytes :]
                if not chunk:
                    device.mic_done.set()
                self.callback(chunk.ljust(self.block_bytes, b"\0"), self.block_bytes // 2, None, None)

        class RawOutputStream(FakeStream):
            def tick(self) -> None:
                out = bytearray(self.block_bytes)
                self.callback(out, self.block_bytes // 2, None, None)
                device.played += out

        self.RawInputStream = RawInputStream
        self.RawOutputStream = RawOutputStream

    def query_devices(self, kind: str) -> dict[str, Any]:
        return {"name": f"fake {kind}"}


async def test_talk_through_a_sound_device(
    voice_server: tuple[EngineServer, list[dict[str, Any]]], speech_wav: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``voxgate talk``'s loop with a scripted sound card: the phrase is heard, answered and played."""
    from voxgate.client import Microphone
    from voxgate.client.talk import CAPTURE_JITTER_MS, converse, load_sounddevice

    server, _ = voice_server
    pcm, rate, _ = read_wav(speech_wav)
    assert rate == 48000
    device = FakeSoundDevice(pcm)
    monkeypatch.setitem(sys.modules, "sounddevice", device)
    assert load_sounddevice() is device

    lines: list[str] = []
    mic = Microphone(jitter_ms=CAPTURE_JITTER_MS)
    async with RealtimeClient(calls_url(server), API_KEY, microphone=mic) as client:
        talking = asyncio.ensure_future(
            converse(client, device, on_line=lines.append, language="en", on_event=check_server_event)
        )
        try:
            # Server VAD ends the turn, Whisper transcribes it, the echo assistant answers it aloud.
            await wait_for(lambda: any(line.startswith("assistant: ") for line in lines), within=15)
            await wait_for(lambda: loud_ms(bytes(device.played)) > 1000, within=10)  # out of the speaker
        finally:
            talking.cancel()  # Ctrl-C
            await asyncio.gather(talking, return_exceptions=True)
    # What was heard, printed, then echoed by the assistant. (Exact words are the ASR tests' business:
    # with client and engine sharing one loop on a loaded machine, tiny.en sometimes hears "ground fog".)
    assert lines[0].startswith("you: ") and "lazy" in lines[0].lower(), lines
    assert lines[1].startswith(f'assistant: You said: "{lines[0].removeprefix("you: ")}'), lines


async def serve_app(app: Any, sock: socket.socket) -> AsyncIterator[None]:
    """Serve ``app`` with uvicorn on the bound ``sock`` inside the current loop."""
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield
    finally:
        server.should_exit = True
        await task
        sock.close()


async def test_gateway_mints_the_key_and_calls_url(make_settings: Callable[..., Any]) -> None:
    from voxgate.adapters.sql import AccountStore, Database
    from voxgate.web.app import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # No OpenAI key and no upstream: the gateway serves its embedded engine under /engine.
    settings = make_settings(OPENAI_API_KEY=None, upstream_url=None, port=port)
    db = Database(settings.effective_database_url)
    try:
        await db.migrate()
        accounts = AccountStore(db)
        await accounts.create_user("cli-user", "user")
        _, vg_key = await accounts.create_api_key("cli-user")
    finally:
        await db.aclose()

    app = create_app(settings)
    async with contextlib.asynccontextmanager(serve_app)(app, sock), httpx.AsyncClient() as http:
        target = await resolve_target(http, gateway=f"http://127.0.0.1:{port}", key=vg_key)
        assert target.key.startswith("ek_") and target.session is None
        assert target.calls_url == f"http://127.0.0.1:{port}/engine/v1/realtime/calls"
        async with RealtimeClient(target.calls_url, target.key) as client:
            events = reader(client)
            created = await events.expect("session.created")
            assert created["session"]["model"] == settings.policy.model  # the gateway's policy
            client.send(
                {"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}}
            )
            await events.expect("session.updated")
        await wait_for(lambda: not app.state.engine._calls)

        with pytest.raises(CallRejected) as refused:
            await resolve_target(http, gateway=f"http://127.0.0.1:{port}", key="vg_" + "x" * 43)
        assert refused.value.status == 401
