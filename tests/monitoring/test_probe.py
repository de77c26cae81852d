"""The synthetic probe against the real local engine (Silero VAD, Whisper, the echo assistant speaking
with espeak-ng): it hears its sentences with WER <= 15 %, times the connect and the first reply audio,
stores the run for the dashboard and exports it as metrics, as ``voxgate serve``'s schedule does."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aioice.ice
import httpx
import pytest
from prometheus_client import REGISTRY

from tests.conftest import in_thread
from voxgate.adapters.sql import Database
from voxgate.adapters.sql.probes import ProbeStore
from voxgate.client.probe import SpokenProbe
from voxgate.core.probe import PROBE_SENTENCES, ProbeTarget
from voxgate.engine.speech.tts import EspeakSynthesizer
from voxgate.settings import Settings
from voxgate.testing.server import TEST_API_KEY, EngineServer, serve_engine
from voxgate.web.probe_schedule import ProbeSchedule, probe_enabled, probe_target


@pytest.fixture(autouse=True)
def loopback_ice() -> Iterator[None]:
    """Both ICE agents offer only 127.0.0.1 (aioice skips loopback by default; this is its one seam)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])
        yield


@pytest.fixture(scope="module")
def voice() -> Any:
    """The engine's voice pipeline as `voxgate serve` builds it (Whisper tiny.en, Silero)."""
    from voxgate.engine.speech.asr import WhisperRecognizer
    from voxgate.engine.speech.vad import SileroModel
    from voxgate.engine.voice import voice_observer_factory

    recognizer = WhisperRecognizer(window_s=10.0)
    recognizer.warm_up()
    return voice_observer_factory(SileroModel().detector, recognizer)


@pytest.fixture
async def engine(voice: Any) -> AsyncIterator[EngineServer]:
    async with serve_engine(synthesizer=EspeakSynthesizer(), observer_factory=voice) as server:
        yield server


async def test_the_probe_hears_its_sentences_and_is_stored_and_exported(
    engine: EngineServer, tmp_path: Path
) -> None:
    target = ProbeTarget(f"{engine.base_url}/realtime/calls", TEST_API_KEY, "local engine")
    assert TEST_API_KEY not in repr(target)
    runs_before = REGISTRY.get_sample_value("voxgate_probe_runs_total", {"outcome": "ok"}) or 0.0
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'voxgate.db'}")
    await db.migrate()
    try:
        schedule = ProbeSchedule(SpokenProbe(EspeakSynthesizer), target, db, interval_s=3600)
        await schedule.run_once()
        (result,) = await ProbeStore(db).between(*_today())
    finally:
        await db.aclose()
    assert result.outcome == "ok", result
    assert result.expected == " ".join(PROBE_SENTENCES)
    assert result.wer is not None
    assert result.wer <= 0.15, result
    assert result.connect_ms is not None
    assert result.connect_ms > 0
    # The reply is heard after the VAD's silence wait, Whisper and the first synthesized sentence.
    assert result.first_audio_ms is not None
    assert result.first_audio_ms > 100
    assert REGISTRY.get_sample_value("voxgate_probe_runs_total", {"outcome": "ok"}) == runs_before + 1
    assert REGISTRY.get_sample_value("voxgate_probe_wer") == pytest.approx(result.wer)
    assert REGISTRY.get_sample_value("voxgate_probe_first_audio_seconds") == pytest.approx(
        result.first_audio_ms / 1000
    )


async def test_an_unreachable_upstream_is_a_failed_run_not_an_error(tmp_path: Path) -> None:
    target = ProbeTarget("http://127.0.0.1:9/v1/realtime/calls", TEST_API_KEY, "nowhere")
    result = await SpokenProbe(EspeakSynthesizer, connect_timeout=2)(target)
    assert result.outcome == "connect_failed"
    assert result.wer is None


def test_the_schedule_is_on_for_the_local_engine_and_off_for_openai_by_default(tmp_path: Path) -> None:
    local = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    assert probe_enabled(local)
    local_target = probe_target(local, "sk-internal-0123456789")
    assert local_target is not None
    assert local_target.calls_url == "http://127.0.0.1:8000/engine/v1/realtime/calls"
    openai = Settings(_env_file=None, data_dir=tmp_path, OPENAI_API_KEY="sk-test-0123456789")  # type: ignore[call-arg]
    assert not probe_enabled(openai)
    openai_target = probe_target(openai, None)
    assert openai_target is not None
    assert openai_target.label == "api.openai.com"
    forced = Settings(
        _env_file=None, data_dir=tmp_path, OPENAI_API_KEY="sk-x", monitoring={"probe_enabled": True}
    )  # type: ignore[call-arg]
    assert probe_enabled(forced)


def _today() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(hours=1), now + timedelta(minutes=1)


async def test_voxgate_probe_prints_saves_and_writes_its_metrics(
    engine: EngineServer, tmp_path: Path
) -> None:
    """The CLI in its own process against the engine: its report, a row for the dashboard, and a
    Prometheus text file for node_exporter's textfile collector."""
    data = tmp_path / "data"
    db = Database(f"sqlite+aiosqlite:///{(data / 'voxgate.db').resolve()}")
    await db.migrate()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOXGATE_") and k != "OPENAI_API_KEY"}
    env["VOXGATE_DATA_DIR"] = str(data)
    prom = tmp_path / "probe.prom"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "voxgate", "probe", "--url", f"{engine.base_url}/realtime/calls",
        "--key", TEST_API_KEY, "--voice", "espeak", "--save", "--metrics-file", str(prom),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    try:
        assert process.returncode == 0, (out.decode(), err.decode())
        report = out.decode()
        assert "outcome      ok" in report
        assert "WER" in report
        assert TEST_API_KEY not in report + err.decode()
        (stored,) = await ProbeStore(db).between(*_today())
        assert stored.outcome == "ok"
        assert stored.target == "127.0.0.1"
    finally:
        await db.aclose()
    text = prom.read_text()
    assert 'voxgate_probe_ok{target="127.0.0.1"} 1.0' in text
    assert "voxgate_probe_wer{" in text


def test_voxgate_probe_fails_with_status_1_when_nothing_answers(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOXGATE_") and k != "OPENAI_API_KEY"}
    prom = tmp_path / "probe.prom"
    done = subprocess.run(
        [sys.executable, "-m", "voxgate", "probe", "--url", "http://127.0.0.1:9/v1/realtime/calls",
         "--key", "sk-test-nothing", "--voice", "espeak", "--timeout", "2", "--metrics-file", str(prom)],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "connect_failed" in done.stdout
    assert 'voxgate_probe_ok{target="127.0.0.1"} 0.0' in prom.read_text()


@pytest.mark.timeout(300)  # the engine's speech stack loads first: slow on two busy cores
def test_voxgate_serve_runs_the_probe_on_its_schedule(tmp_path: Path) -> None:
    """The app as `voxgate serve` makes it on its embedded engine (no key: the probe is on by default),
    with a short interval: runs land in the database and in /metrics."""
    from tests.support.server import ServerThread, free_port
    from voxgate.web.app import create_app

    port = free_port()
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=tmp_path / "data",
        port=port,
        engine={"tts": "espeak"},
        monitoring={"probe_interval_s": 2.0},
    )

    async def stored() -> Any:
        db = Database(settings.effective_database_url)
        try:
            return await ProbeStore(db).between(*_today())
        finally:
            await db.aclose()

    with ServerThread(create_app(settings, probe=SpokenProbe(EspeakSynthesizer)), port=port) as server:
        deadline = time.monotonic() + 200
        text = ""
        while time.monotonic() < deadline and 'voxgate_probe_runs_total{outcome="ok"}' not in text:
            time.sleep(0.5)
            text = httpx.get(f"{server.url}/metrics", timeout=5).text
        assert 'voxgate_probe_runs_total{outcome="ok"}' in text, text[-2000:]
        # The run is counted as it ends and stored just after: wait for its row while the server still runs.
        runs = in_thread(stored())
        while not runs and time.monotonic() < deadline:
            time.sleep(0.5)
            runs = in_thread(stored())
    assert runs
    assert runs[0].target == "local engine"
    assert runs[0].wer is not None
    assert runs[0].wer <= 0.15
