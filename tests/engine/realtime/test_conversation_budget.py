"""A conversation keeps at most its audio budget: the oldest items lose their audio bytes, never their
text, their place or what their audio counts for in usage."""

from __future__ import annotations

import base64

from voxgate.engine.realtime.conversation import MAX_AUDIO_BYTES, Conversation

SECOND = 48_000  # bytes of one second of 24 kHz PCM16


def user_audio(seconds: int) -> dict[str, object]:
    audio = base64.b64encode(b"\x01\x00" * (SECOND // 2) * seconds).decode()
    return {"type": "message", "role": "user", "content": [{"type": "input_audio", "audio": audio}]}


def test_the_oldest_audio_goes_first_and_usage_still_counts_it() -> None:
    conversation = Conversation(max_audio_bytes=5 * SECOND)
    ids = []
    for _ in range(4):
        conversation.insert(user_audio(2))
        ids.append(conversation.last_id())
    # 8 s of audio arrived; 5 s fit: the first two items' bytes went, the last two stay.
    assert conversation.audio_bytes == 4 * SECOND
    assert [conversation.audio_ms(item_id) for item_id in ids] == [2000] * 4
    assert "audio" not in conversation.get(ids[0])["content"][0]
    assert len(base64.b64decode(conversation.get(ids[3])["content"][0]["audio"])) == 2 * SECOND
    assert len(conversation) == 4


def test_an_hour_of_commits_stays_within_the_budget() -> None:
    conversation = Conversation()
    for _ in range(60):  # a minute of audio per commit, for an hour
        conversation.insert(user_audio(60))
    assert conversation.audio_bytes <= MAX_AUDIO_BYTES
    assert sum(conversation.audio_ms(item["id"]) for item in conversation.items()) == 3_600_000


def test_an_item_whose_bytes_were_dropped_can_still_be_cut_and_deleted() -> None:
    conversation = Conversation(max_audio_bytes=SECOND)
    conversation.insert(
        {"type": "message", "role": "assistant", "content": [{"type": "output_audio", "transcript": "hi"}]}
    )
    reply = conversation.last_id()
    assert reply is not None
    conversation.set_audio(reply, b"\x00" * SECOND)
    conversation.insert(user_audio(1))
    assert conversation.audio_bytes == SECOND  # the reply's bytes made room
    conversation.truncate(reply, 0, 400)
    assert conversation.audio_ms(reply) == 400
    conversation.delete(reply)
    assert conversation.audio_ms(reply) == 0
