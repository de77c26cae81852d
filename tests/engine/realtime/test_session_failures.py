"""A bug met while serving a session is logged and reported as an ``error`` event; the session goes on."""

from __future__ import annotations

import asyncio
import logging

import pytest
from openai import AsyncOpenAI

from tests.engine.realtime_kit import sdk_reader
from voxgate.engine.realtime.conversation import Conversation
from voxgate.engine.tasks import TaskOwner


async def test_an_unexpected_error_in_a_handler_is_an_error_event_and_the_session_goes_on(
    client: AsyncOpenAI, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_delete(self: Conversation, item_id: str) -> None:
        raise RuntimeError("a bug in the conversation")

    monkeypatch.setattr(Conversation, "delete", broken_delete)
    caplog.set_level(logging.ERROR, logger="voxgate.engine.realtime.realtime_session")
    async with client.realtime.connect(model="gpt-realtime") as conn:
        events = sdk_reader(conn)
        await events.expect("session.created")
        await conn.send({"type": "conversation.item.delete", "item_id": "item_x", "event_id": "evt_bug"})
        error = (await events.expect("error"))["error"]
        assert (error["type"], error["code"], error["event_id"]) == (
            "server_error",
            "server_error",
            "evt_bug",
        )
        assert "a bug in the conversation" not in error["message"]  # internals stay in the log
        logged = [r for r in caplog.records if "conversation.item.delete" in r.getMessage()]
        assert logged and logged[0].exc_info is not None and "a bug" in str(logged[0].exc_info[1])
        # The same session still serves.
        await conn.send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "hi"}],
                },
            }
        )
        assert (await events.expect("conversation.item.added"))["item"]["role"] == "user"
        await conn.send({"type": "response.create"})
        done = (await events.until("response.done"))[-1]["response"]
        assert done["status"] == "completed"


async def test_the_task_owner_logs_reports_and_cancels(caplog: pytest.LogCaptureFixture) -> None:
    reported: list[tuple[str, str]] = []

    async def report(what: str, error: BaseException) -> None:
        reported.append((what, str(error)))

    async def fail() -> None:
        raise ValueError("boom")

    owner = TaskOwner("session sess_test", on_failure=report)
    caplog.set_level(logging.ERROR, logger="voxgate.engine.tasks")
    owner.spawn(fail(), "the failing task")
    forever = owner.spawn(asyncio.sleep(3600), "the sleeper")
    for _ in range(10):
        await asyncio.sleep(0)
    assert reported == [("the failing task", "boom")]
    assert any("session sess_test: the failing task failed" in r.getMessage() for r in caplog.records)
    assert len(owner) == 1
    await owner.aclose()
    assert forever.cancelled() and len(owner) == 0
    owner.spawn(fail(), "after close")  # a failure after close is logged but reported to nobody
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(reported) == 1
