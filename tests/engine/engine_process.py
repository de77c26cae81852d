"""Serve the engine with piper's voice in this process, for tests that measure it from outside.

``python -m tests.engine.engine_process PORT [readback [MAX_OUTPUT_CHARS]]``: the echo assistant, or
(``readback``) an assistant that reads the user's whole text back, as a chatty language model would, with
the engine's ceiling on a reply's text (``max_output_chars``) at its default or at MAX_OUTPUT_CHARS.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

import uvicorn

from voxgate.engine.assistants.responder import ResponderEvent, ResponderRequest, TextDelta
from voxgate.engine.config import EngineConfig
from voxgate.engine.server.http import create_engine_app
from voxgate.engine.speech.tts import PiperSynthesizer

KEY = "sk-test-engine-process-0123456789"


class ReadBack:
    """Reads every user text of the request back, word by word."""

    async def respond(self, request: ResponderRequest) -> AsyncIterator[ResponderEvent]:
        for item in request.items:
            for part in item.get("content") or []:
                for word in str(part.get("text") or "").split(" "):
                    yield TextDelta(f"{word} ")


def main() -> None:
    port = int(sys.argv[1])
    responder = ReadBack() if sys.argv[2:3] == ["readback"] else None
    config = EngineConfig(api_keys=frozenset({KEY}))
    if sys.argv[3:]:
        config = config.model_copy(update={"max_output_chars": int(sys.argv[3])})
    app = create_engine_app(config, synthesizer=PiperSynthesizer(), responder=responder)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", ws_max_size=32 * 1024 * 1024)


if __name__ == "__main__":
    main()
