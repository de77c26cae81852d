"""A 5,000-word unpunctuated text sent to a WebSocket session of an engine speaking with piper: the
server's peak RSS grows by a bounded amount (goal: under 200 MB), because speech is synthesized in
bounded pieces and every reply is capped. The engine runs in its own process; its RSS is read from
``/proc/<pid>/status`` (``VmHWM``, the peak, reset through ``clear_refs`` before the text is sent)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import websockets

from tests.engine.engine_process import KEY
from voxgate.engine.speech.tts import piper_available

pytestmark = pytest.mark.skipif(not piper_available(), reason="needs piper (pip install 'voxgate[piper]')")

ROOT = Path(__file__).resolve().parents[3]
WORDS = " ".join(f"word{n % 97}" for n in range(5000))
GOAL_MB = 200
# The read-back's reply is cut at READ_BACK_CHARS (half the default max_output_chars: the same cut and the
# same bounded pieces, about two minutes of speech, in half the time). Peak growth measured with piper on
# two cores: ~180 MB of piper's and onnxruntime's arena plus ~16 MB per 1,000 characters of reply (its
# audio, held by the response and the conversation): 243 MB at 4,000 characters, 217 MB at 2,000. The
# bound keeps the headroom it had at 4,000 characters (320 MB then, 77 MB above the measure).
READ_BACK_CHARS = 2000
WORST_CASE_MB = 295


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def reset_peak(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux ``clear_refs`` 5); False when not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@contextmanager
def engine_process(*args: str) -> Iterator[tuple[int, int]]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.engine.engine_process", str(port), *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        yield proc.pid, port
    finally:
        proc.terminate()
        proc.wait(10)


async def wait_ready(port: int) -> None:
    async with httpx.AsyncClient() as http, asyncio.timeout(60):
        while True:
            try:
                ok = await http.get(
                    f"http://127.0.0.1:{port}/v1/models", headers={"Authorization": f"Bearer {KEY}"}
                )
                if ok.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)


async def say(port: int, text: str, within: float) -> dict[str, object]:
    """Send ``text`` as a user item, ask for a spoken reply, read everything up to ``response.done``."""
    url = f"ws://127.0.0.1:{port}/v1/realtime?model=gpt-realtime"
    async with websockets.connect(
        url, additional_headers={"Authorization": f"Bearer {KEY}"}, max_size=None
    ) as ws:
        item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
        await ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
        await ws.send(json.dumps({"type": "response.create"}))
        audio = 0
        async with asyncio.timeout(within):
            while True:
                event = json.loads(await ws.recv())
                if event["type"] == "response.output_audio.delta":
                    audio += len(event["delta"]) * 3 // 4
                if event["type"] == "response.done":
                    response: dict[str, object] = event["response"]
                    response["audio_bytes"] = audio
                    return response


async def peak_growth(pid: int, port: int, within: float) -> tuple[float, float, dict[str, object]]:
    await wait_ready(port)
    await say(port, "warm up the voice", 60)  # piper's and onnxruntime's first allocations
    before = status_kb(pid, "VmRSS")
    if not reset_peak(pid):
        pytest.skip("cannot reset VmHWM here")
    done = await say(port, WORDS, within)
    peak = status_kb(pid, "VmHWM")
    return before / 1024, (peak - before) / 1024, done


async def test_5000_unpunctuated_words_to_the_echo_assistant() -> None:
    with engine_process() as (pid, port):
        idle, growth, done = await peak_growth(pid, port, 60)
    print(
        f"\necho + piper: RSS {idle:.0f} MB before; peak growth {growth:.1f} MB; "
        f"{done['audio_bytes']} B audio"
    )
    assert done["status"] == "completed" and int(str(done["audio_bytes"])) > 0
    assert growth < GOAL_MB


@pytest.mark.timeout(600)
async def test_5000_unpunctuated_words_read_back_in_full() -> None:
    """The worst a chatty assistant can do: read the whole text back. The reply stops at
    ``max_output_chars`` (4,000 by default, about four minutes of speech; READ_BACK_CHARS here), spoken in
    bounded pieces; the reply's audio (~12 MB here, ~24 MB at the default) is held by the response and the
    conversation, and piper's arena grows somewhat with the number of pieces: bounded, though above the
    200 MB goal of the echo's case."""
    with engine_process("readback", str(READ_BACK_CHARS)) as (pid, port):
        idle, growth, done = await peak_growth(pid, port, 540)
    print(
        f"\nread-back + piper: RSS {idle:.0f} MB before; peak growth {growth:.1f} MB; "
        f"{done['audio_bytes']} B audio"
    )
    # Cut at the ceiling: incomplete, as OpenAI's reply stopped by max_output_tokens is.
    assert done["status"] == "incomplete" and int(str(done["audio_bytes"])) > 0
    assert done["status_details"] == {"type": "incomplete", "reason": "max_output_tokens"}
    assert growth < WORST_CASE_MB
