"""The helpers shipped for users' tests (:mod:`voxgate.testing`) work as their docstring shows."""

from __future__ import annotations

import voxgate.testing
from voxgate.testing import RtcClient, serve_engine


async def test_the_docstring_example_places_a_call_and_gets_a_spoken_reply() -> None:
    async with serve_engine() as server:
        caller = RtcClient()
        call_id = await server.call(caller)
        try:
            assert call_id in server.engine._calls
            assert (await caller.events.next())["type"] == "session.created"
            caller.send(
                {
                    "type": "conversation.item.create",
                    "item": {
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_text", "text": "hi"}],
                    },
                }
            )
            caller.send({"type": "response.create"})
            events = await caller.events.until("response.done")
            done = events[-1]["response"]
            assert done["status"] == "completed"
            assert done["output"][0]["content"][0]["transcript"].startswith('You said: "hi"')
            assert server.synthesizer.calls  # the tone synthesizer spoke it
        finally:
            await caller.close()


def test_every_exported_name_resolves() -> None:
    for name in voxgate.testing.__all__:
        assert getattr(voxgate.testing, name) is not None, name
