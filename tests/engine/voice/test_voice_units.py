"""The voice pipeline's parts on their own: the turn detector on synthetic VAD probabilities, the
processors, the tagged playback, captions, the transcript book and the input buffer's spans."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from voxgate.engine.realtime.captions import Captions
from voxgate.engine.realtime.input_buffer import InputAudioBuffer
from voxgate.engine.realtime.output_buffer import OutputAudioBuffer, heard_transcript
from voxgate.engine.realtime.transcription import split_deltas, transcription_usage
from voxgate.engine.realtime.transcripts import TranscriptBook
from voxgate.engine.rtc.playback import PlaybackTrack
from voxgate.engine.voice.frames import (
    Frame,
    IdleTimeoutFrame,
    InputAudioFrame,
    SpeechAudioFrame,
    SpeechStartedFrame,
    SpeechStoppedFrame,
    VadFrame,
)
from voxgate.engine.voice.input_audio import InputResampler, decode_input
from voxgate.engine.voice.pipeline import Pipeline
from voxgate.engine.voice.turn_detector import TurnDetector, TurnParams
from voxgate.engine.voice.vad_stage import VadStage

W = 32  # ms per Silero window
SERVER_VAD = {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 200}


def run(
    detector: TurnDetector,
    params: TurnParams | None,
    probabilities: Sequence[float],
    *,
    busy: Sequence[bool] | None = None,
    first: int = 0,
) -> list[Frame]:
    """Feed windows ``first``, ``first + 1``… and collect the decisions."""
    out: list[Frame] = []
    for i, p in enumerate(probabilities, start=first):
        flag = busy[i - first] if busy is not None else False
        out += detector.update(params, p, i * W, (i + 1) * W, flag)
    return out


def server(**fields: object) -> TurnParams:
    params = TurnParams.from_config({**SERVER_VAD, **fields})
    assert params is not None
    return params


# ---- turn detection ---------------------------------------------------------------------------------


def test_speech_start_and_stop_times() -> None:
    detector = TurnDetector(lambda: None)
    events = run(detector, server(), [0.05] * 10 + [0.9] * 20 + [0.05] * 10)
    assert events == [
        SpeechStartedFrame(audio_start_ms=320, at_ms=384),  # confirmed after 64 ms of speech
        # Speech ended at 960 (the edge); 200 ms of silence later the turn is over.
        SpeechStoppedFrame(audio_start_ms=320, audio_end_ms=960, at_ms=1184),
    ]
    assert not detector.in_speech


def test_hysteresis_short_pauses_and_blips() -> None:
    detector = TurnDetector(lambda: None)
    # Dips to 0.4 stay above the low threshold (0.35); a 160 ms pause is shorter than the silence.
    speech = [0.9] * 5 + [0.4] * 3 + [0.9] * 5 + [0.1] * 5 + [0.9] * 5
    events = run(detector, server(), [0.0] * 3 + speech + [0.0] * 7)
    assert [type(e) for e in events] == [SpeechStartedFrame, SpeechStoppedFrame]
    assert events[1] == SpeechStoppedFrame(audio_start_ms=96, audio_end_ms=(3 + len(speech)) * W, at_ms=1056)
    # One loud window is a click, not speech; nor is a window at the threshold followed by silence.
    assert run(TurnDetector(lambda: None), server(), [0.0, 0.95, 0.1, 0.0, 0.6, 0.2, 0.0]) == []
    # A higher threshold ignores what the default would take for speech.
    assert run(TurnDetector(lambda: None), server(threshold=0.95), [0.9] * 20) == []


def test_min_speech_and_prefix_padding() -> None:
    detector = TurnDetector(lambda: None, min_speech_ms=150)
    events = run(detector, server(prefix_padding_ms=500), [0.0] * 20 + [0.9] * 10)
    assert events == [SpeechStartedFrame(audio_start_ms=640, at_ms=800)]  # 5 windows = 160 ms ≥ 150
    # While speaking, the audio from 500 ms before the start must stay in the buffer.
    assert detector.keep_from_ms(960, server(prefix_padding_ms=500)) == 140
    quiet = TurnDetector(lambda: None)
    assert quiet.keep_from_ms(5000, server()) == 4700


@pytest.mark.parametrize(("silence_ms", "stop_at"), [(200, 1504), (500, 1792), (1000, 2304)])
def test_silence_duration(silence_ms: int, stop_at: int) -> None:
    events = run(TurnDetector(lambda: None), server(silence_duration_ms=silence_ms), [0.9] * 40 + [0.0] * 60)
    stopped = [e for e in events if isinstance(e, SpeechStoppedFrame)]
    assert stopped == [SpeechStoppedFrame(audio_start_ms=0, audio_end_ms=1280, at_ms=stop_at)]


@pytest.mark.parametrize(
    ("eagerness", "wait_ms"), [("high", 300), ("medium", 800), ("auto", 800), ("low", 1500)]
)
def test_semantic_eagerness(eagerness: str, wait_ms: int) -> None:
    params = TurnParams.from_config({"type": "semantic_vad", "eagerness": eagerness})
    assert params is not None
    assert (params.end_of_turn_ms, params.threshold, params.idle_timeout_ms) == (wait_ms, 0.5, None)
    events = run(TurnDetector(lambda: None), params, [0.9] * 20 + [0.0] * 60)
    stop = next(e for e in events if isinstance(e, SpeechStoppedFrame))
    assert stop.audio_end_ms == 640
    assert wait_ms <= stop.at_ms - stop.audio_end_ms < wait_ms + W
    default = TurnParams.from_config({"type": "semantic_vad"})
    assert default is not None
    assert default.end_of_turn_ms == 800


def test_params_from_config() -> None:
    assert TurnParams.from_config(None) is None
    assert TurnParams.from_config({"type": "server_vad"}) == TurnParams(mode="server_vad")
    off = TurnParams.from_config({**SERVER_VAD, "create_response": False, "idle_timeout_ms": 5000})
    assert off is not None
    assert (off.create_response, off.interrupt_response, off.idle_timeout_ms) == (False, True, 5000)
    listening = TurnParams.from_config(SERVER_VAD, responses=False)  # a transcription session
    assert listening is not None
    assert not listening.create_response
    assert not listening.interrupt_response


def test_idle_timeout_after_the_assistant_finished() -> None:
    params = server(idle_timeout_ms=500)
    detector = TurnDetector(lambda: None)
    # No timer before the assistant has spoken, and none while it speaks.
    busy = [False] * 10 + [True] * 10 + [False] * 30
    events = run(detector, params, [0.0] * 50, busy=busy)
    # The assistant finished at window 20 (640 ms); 500 ms of silence ends at window 36 (1152 ms).
    assert events == [IdleTimeoutFrame(audio_start_ms=640, audio_end_ms=1152)]
    # It fires once: the response it starts makes the assistant busy again, and the clock restarts.
    assert run(detector, params, [0.0] * 40, busy=[True] * 5 + [False] * 35, first=50) == [
        IdleTimeoutFrame(audio_start_ms=55 * W, audio_end_ms=71 * W)
    ]
    # The user speaking first cancels it; semantic_vad has no idle timeout.
    talk = run(
        TurnDetector(lambda: None), params, [0.0] * 5 + [0.9] * 5 + [0.0] * 30, busy=[True] + [False] * 39
    )
    assert not [e for e in talk if isinstance(e, IdleTimeoutFrame)]
    semantic = TurnParams.from_config({"type": "semantic_vad"})
    assert run(TurnDetector(lambda: None), semantic, [0.0] * 60, busy=[True] + [False] * 59) == []


def test_null_turn_detection_and_live_updates() -> None:
    detector = TurnDetector(lambda: None)
    assert run(detector, None, [0.9] * 30) == []
    # Switched on mid-speech: the speech counts from there.
    assert run(detector, server(), [0.9] * 3, first=30) == [
        SpeechStartedFrame(audio_start_ms=960, at_ms=1024)
    ]
    # Switched off mid-speech: no speech_stopped ever comes for it.
    assert run(detector, None, [0.0] * 20, first=33) == []
    assert not detector.in_speech
    # A live update of the silence takes effect in the middle of a turn.
    events = run(detector, server(), [0.9] * 5, first=60)
    events += run(detector, server(silence_duration_ms=1000), [0.0] * 10, first=65)
    events += run(detector, server(silence_duration_ms=100), [0.0] * 2, first=75)
    assert [type(e) for e in events] == [SpeechStartedFrame, SpeechStoppedFrame]
    assert events[1] == SpeechStoppedFrame(audio_start_ms=1920, audio_end_ms=2080, at_ms=2432)


# ---- processors ------------------------------------------------------------------------------------


class FakeVad:
    sample_rate = 16000
    window_samples = 512

    def __init__(self) -> None:
        self.windows: list[bytes] = []

    def probability(self, window: bytes) -> float:
        self.windows.append(window)
        return 0.9 if max(window) > 0 else 0.0

    def reset(self) -> None:
        self.windows.clear()


def test_pipeline_resamples_scores_and_detects() -> None:
    vad = FakeVad()
    resampler = InputResampler()
    detector = TurnDetector(lambda: server())
    pipeline = Pipeline([resampler, VadStage(vad), detector])
    pcm = {"type": "audio/pcm", "rate": 24000}
    out: list[Frame] = []
    for _ in range(10):
        out += pipeline.push(InputAudioFrame(bytes(2400), pcm))  # 50 ms of silence each
    assert out == [] and resampler.position_ms == 500
    loud = b"\x00\x20" * 1200
    for _ in range(6):
        out += pipeline.push(InputAudioFrame(loud, pcm))
    assert [type(f) for f in out] == [SpeechStartedFrame]
    assert abs(out[0].audio_start_ms - 500) <= W  # type: ignore[attr-defined]
    # 16 kHz windows of 512 samples; 800 ms of 24 kHz audio made 25 of them (give or take the filter).
    assert 24 <= len(vad.windows) <= 25 and {len(w) for w in vad.windows} == {1024}
    # Frames a stage does not handle pass through.
    marker = SpeechAudioFrame(b"", 0.0)
    assert Pipeline([detector]).push(marker) == [marker]
    assert list(VadStage(vad).process(VadFrame(0.5, 0, 32))) == [VadFrame(0.5, 0, 32)]


def test_g711_input_is_decoded_and_timed() -> None:
    ulaw, rate = decode_input(bytes([0xFF, 0x7F, 0x00, 0x80]), {"type": "audio/pcmu"})
    assert rate == 8000
    assert [int.from_bytes(ulaw[i : i + 2], "little", signed=True) for i in range(0, 8, 2)] == [
        0,
        0,
        -32124,
        32124,
    ]
    alaw, _ = decode_input(bytes([0xD5, 0x55, 0x2A, 0xAA]), {"type": "audio/pcma"})
    assert [int.from_bytes(alaw[i : i + 2], "little", signed=True) for i in range(0, 8, 2)] == [
        8,
        -8,
        -32256,
        32256,
    ]
    resampler = InputResampler()
    out = list(resampler.process(InputAudioFrame(bytes(800), {"type": "audio/pcmu"})))  # 100 ms at 8 kHz
    assert resampler.position_ms == 100
    assert out and isinstance(out[0], SpeechAudioFrame)


# ---- output: tagged playback, the ledger, captions ---------------------------------------------------


async def test_playback_counts_what_it_sent_per_tag() -> None:
    track = PlaybackTrack()
    first = track.enqueue(bytes(48 * 30), "a")  # 30 ms
    second = track.enqueue(bytes(48 * 30), "b")
    third = track.enqueue(bytes(48 * 30), "b")
    assert not first.done()
    await track.recv()  # 20 ms of a
    assert first.result() is True and not second.done()
    await track.recv()  # 10 ms of a, 10 ms of b
    assert (track.played_ms("a"), track.played_ms("b")) == (30, 10) and second.result() is True
    assert track.drop({"b"})  # only the unstarted chunk of b goes
    assert third.result() is False
    await track.recv()
    assert track.played_ms("b") == 30 and track.is_idle()
    late = track.enqueue(bytes(480), "c")
    assert track.clear() and late.result() is False
    track.stop()
    assert track.enqueue(bytes(480), "d").result() is False


async def test_output_buffer_refuses_stale_audio_and_cuts_the_transcript() -> None:
    track = PlaybackTrack()
    events: list[dict[str, object]] = []

    async def emit(event: dict[str, object]) -> None:
        events.append(event)

    output = OutputAudioBuffer(track, emit)
    await output.play("r1", "i1", bytes(48 * 1000), caption="Hello there.")
    await output.play("r1", "i1", bytes(48 * 1000), caption=" How are you today?")
    for _ in range(75):  # 1.5 s
        await track.recv()
    cut = output.interrupt()
    assert (cut.response_id, cut.item_id, cut.played_ms) == ("r1", "i1", 1500)
    assert cut.transcript == "Hello there. How are"  # half of the second caption's 4 words
    late = await output.play("r1", "i1", bytes(480))
    assert late.result() is False and track.is_idle()  # generation tagging: the cut response stays quiet
    assert [e["type"] for e in events] == ["output_audio_buffer.started"]
    assert heard_transcript([(0, "One two."), (100, " Three.")], 200, 0) == ""
    assert heard_transcript([(0, "One two."), (100, " Three.")], 200, 200) == "One two. Three."


async def test_captions_follow_playback() -> None:
    sent: list[str] = []

    async def send(delta: str) -> None:
        sent.append(delta)

    captions = Captions(send, lookahead=2)
    loop = asyncio.get_running_loop()
    first, second, third = loop.create_future(), loop.create_future(), loop.create_future()
    await captions.reserve()
    captions.add(first, "One.")
    await captions.reserve()
    captions.add(second, " Two.")
    blocked = asyncio.ensure_future(captions.reserve())
    await asyncio.sleep(0.01)
    assert sent == [] and not blocked.done()  # two sentences ahead of playback at most
    first.set_result(True)
    await asyncio.wait_for(blocked, 1)
    assert sent == ["One."]
    captions.add(third, " Three.")
    second.set_result(False)  # dropped: nothing after it is captioned either
    third.set_result(True)
    await captions.drain()
    assert sent == ["One."] and captions.spoken == "One."


# ---- transcripts and the input buffer ----------------------------------------------------------------


async def test_transcript_book_waits_for_pending_turns() -> None:
    book = TranscriptBook()
    book.expect("a")
    items = [
        {
            "id": "a",
            "type": "message",
            "role": "user",
            "content": [{"type": "input_audio", "transcript": None}],
        }
    ]
    filling = asyncio.ensure_future(book.fill(items))
    await asyncio.sleep(0.01)
    assert not filling.done()
    book.settle("a", "hello")
    filled = await asyncio.wait_for(filling, 1)
    assert filled[0]["content"][0]["transcript"] == "hello"
    assert items[0]["content"][0]["transcript"] is None  # the caller's items are not changed
    book.settle("b", None)  # no transcript: nothing to fill, nothing to wait for
    assert await book.fill([{"id": "b", "content": [{"type": "input_audio", "transcript": None}]}]) == [
        {"id": "b", "content": [{"type": "input_audio", "transcript": None}]}
    ]


def test_transcription_deltas_and_usage() -> None:
    assert split_deltas("one two three four five") == ["one two", " three four", " five"]
    assert split_deltas("hi") == ["hi"]
    assert "".join(split_deltas("a  b c d e f g")) == "a  b c d e f g"
    assert transcription_usage("whisper-1", 2500, "x") == {"type": "duration", "seconds": 2.5}
    assert transcription_usage("gpt-realtime-whisper", 1200, "x") == {"type": "duration", "seconds": 1.2}
    tokens = transcription_usage("gpt-4o-mini-transcribe", 2500, "hello world")
    assert tokens["type"] == "tokens" and tokens["input_tokens"] == 25
    assert tokens["total_tokens"] == tokens["input_tokens"] + tokens["output_tokens"]


def test_input_buffer_commits_a_span_of_the_stream() -> None:
    buffer = InputAudioBuffer(max_append_bytes=10**6, max_bytes=10**6)
    buffer.feed(bytes(range(200)) * 48)  # 9600 bytes: 200 ms of PCM16 24 kHz
    taken = buffer.commit(48, start=48 * 20, end=48 * 150)
    assert len(taken) == 48 * 130 and len(buffer) == 48 * 50  # the last 50 ms stay for the next turn
    buffer.discard_before(48 * 190)
    assert len(buffer) == 48 * 10
    with pytest.raises(Exception, match="buffer too small"):
        buffer.commit(48, end=48 * 195)
