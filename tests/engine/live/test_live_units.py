"""The Live session's sans-I/O parts on their own: the timeline and its usage, standby, the input tape,
data-channel permissions, reply pieces, transcript placement, the G.711 encoder and the bounded outbox."""

from __future__ import annotations

import asyncio
import itertools

import numpy as np
import pytest

from voxgate.engine.live import channels
from voxgate.engine.live.conversation import input_transcript_deltas
from voxgate.engine.live.input_tape import InputTape
from voxgate.engine.live.permissions import Permissions
from voxgate.engine.live.reply import MAX_PIECE_CHARS, split_pieces
from voxgate.engine.live.timeline import Standby, Timeline
from voxgate.engine.server.live_audio import encode_g711
from voxgate.engine.voice.input_audio import decode_input
from voxgate.errors import InvalidRequest


def test_usage_is_cumulative_whole_seconds_due_every_interval() -> None:
    timeline = Timeline(interval_ms=15_000, breakdown=True)
    due = [timeline.advance(50, paused=False) for _ in range(300)]  # 15 s of 50 ms frames
    assert due.count(True) == 1 and due[-1]
    assert timeline.usage() == {"seconds": 15, "active_seconds": 15, "paused_seconds": 0}
    for _ in range(50):
        timeline.advance(50, paused=True)  # 2.5 s paused
    assert timeline.usage() == {"seconds": 17, "active_seconds": 15, "paused_seconds": 2}
    plain = Timeline(interval_ms=15_000, breakdown=False)
    plain.advance(1999, paused=False)
    assert plain.usage() == {"seconds": 1}


def test_standby_pauses_after_the_timeout_and_speech_wakes_it() -> None:
    standby = Standby(2)
    assert not standby.update(1000, busy=True)  # a reply plays until 1 s
    assert not standby.update(2900, busy=False)
    assert standby.update(3000, busy=False) and standby.paused
    assert not standby.update(9000, busy=False)  # paused once
    assert standby.wake(9000) and not standby.paused
    assert not Standby(None).update(10**9, busy=False)


def test_input_tape_spans_and_discards() -> None:
    tape = InputTape(48, max_bytes=48 * 1000)
    tape.append(bytes(range(256)) * 45)  # 240 ms
    assert len(tape.span(100, 200)) == 4800
    assert tape.span(100, 200) == tape.span(None, None)[4800:9600]
    tape.discard_before(100)
    assert (
        len(tape.span(None, None)) == 48 * 140 and tape.span(100, 120) == (bytes(range(256)) * 45)[4800:5760]
    )
    tape.append(bytes(48 * 2000))  # past the cap: the oldest goes
    assert len(tape.span(None, None)) == 48 * 1000


def test_permissions() -> None:
    everything = Permissions.from_client(None)
    assert not everything.restricted and everything.shows({"type": "session.usage.updated"})
    console = Permissions.from_client(
        {
            "data_channel": {
                "allowed_client_events": ["session.input_audio.mute"],
                "allowed_server_events": [
                    {"type": "session.started"},
                    {"type": "response.event", "response_event": "response.output_item.done"},
                ],
            }
        }
    )
    console.check_client("session.input_audio.mute")
    with pytest.raises(InvalidRequest) as refused:
        console.check_client("session.close")
    assert refused.value.code == "forbidden"
    assert console.shows({"type": "session.started"}) and not console.shows({"type": "session.usage.updated"})
    assert console.shows({"type": "error"}) and console.shows({"type": "info"})
    assert console.shows({"type": "response.event", "event": {"type": "response.output_item.done"}})
    assert not console.shows({"type": "response.event", "event": {"type": "response.created"}})
    nothing = Permissions.from_client({"data_channel": {"allowed_client_events": []}})
    with pytest.raises(InvalidRequest):
        nothing.check_client("session.input_audio.mute")


def test_reply_pieces_are_sentences_or_bounded() -> None:
    pieces, rest = split_pieces("Hello there. How are you? I am fi")
    assert pieces == ["Hello there.", " How are you?"] and rest == " I am fi"
    words = "word " * 100
    pieces, rest = split_pieces(words)
    assert all(len(p) <= MAX_PIECE_CHARS for p in pieces) and "".join(pieces) + rest == words


def test_input_transcript_deltas_sit_on_the_turn() -> None:
    deltas = input_transcript_deltas(["please", "book", "a", "table", "for", "two"], 1000, 2000)
    assert "".join(d["delta"] for d in deltas) == "please book a table for two"
    assert deltas[0]["start_ms"] == 1000 and deltas[-1]["end_ms"] == 2000
    assert all(a["end_ms"] == b["start_ms"] for a, b in itertools.pairwise(deltas))
    assert len(input_transcript_deltas(["hi"], 500, 500)) == 1


@pytest.mark.parametrize("kind", ["audio/pcmu", "audio/pcma"])
def test_g711_encoding_round_trips(kind: str) -> None:
    samples = (np.sin(np.arange(8000) / 7) * 20000).astype("<i2")
    decoded, rate = decode_input(encode_g711(samples.tobytes(), kind), {"type": kind})
    assert rate == 8000
    error = np.abs(np.frombuffer(decoded, "<i2").astype(float) - samples) / 20000
    assert error.max() < 0.03  # G.711's quantisation step at the loudest segment


async def test_a_channel_that_does_not_read_holds_a_bounded_backlog(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(channels, "MAX_PENDING_BYTES", 10_000)
    stuck = asyncio.Event()

    async def never_reads(text: str) -> None:
        await stuck.wait()

    out = channels.Channels("test", None)
    out.primary = never_reads
    for _ in range(1000):
        out.send({"type": "session.output_audio.delta", "delta": "A" * 1000})
    assert out.dropped >= 985 and out._pending <= 10_000
    backlog = out._pending
    out.send({"type": "session.closed", "delta": "A" * 1000})  # the last word always goes
    assert out._pending > max(backlog, 10_000)
    await out.aclose()
