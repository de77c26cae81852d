"""Honest about what answers: with the embedded local engine, ``/api/me`` says "local engine, demo
assistant" (or the Chat Completions model) and that it transcribes English only, instead of a model name
the engine does not run; with OpenAI upstream it says nothing of the kind."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests.conftest import in_thread
from tests.support.server import ServerThread, free_port
from voxgate.adapters.sql import AccountStore, Database
from voxgate.settings import Settings
from voxgate.web.app import create_app
from voxgate.web.routes.account import _local_engine


def test_the_label_follows_the_engine_settings(make_settings: Callable[..., Settings]) -> None:
    embedded = make_settings(OPENAI_API_KEY=None, upstream_url=None)
    assert _local_engine(embedded) == {
        "label": "local engine, demo assistant",
        "responder": "echo",
        "chat_model": None,
        "transcription_languages": ["en"],
    }
    chat = make_settings(
        OPENAI_API_KEY=None,
        upstream_url=None,
        engine={"responder": "chat", "chat_base_url": "http://127.0.0.1:9/v1", "asr_model": "small"},
    )
    assert _local_engine(chat) == {
        "label": "local engine, llama3.2 via Chat Completions",
        "responder": "chat",
        "chat_model": "llama3.2",
        "transcription_languages": None,  # a multilingual Whisper model
    }
    assert _local_engine(make_settings(OPENAI_API_KEY="sk-upstream-0123456789")) is None


async def test_api_me_names_the_embedded_engine(make_settings: Callable[..., Settings]) -> None:
    port = free_port()
    settings = make_settings(
        OPENAI_API_KEY=None,
        upstream_url=None,
        port=port,
        public_url=f"http://127.0.0.1:{port}",
        engine={"tts": "espeak"},
    )

    async def add_user() -> str:
        db = Database(settings.effective_database_url)
        try:
            await db.migrate()
            accounts = AccountStore(db)
            await accounts.create_user("eli")
            return (await accounts.create_api_key("eli"))[1]
        finally:
            await db.aclose()

    key = in_thread(add_user())
    with ServerThread(create_app(settings), port=port) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            me = await http.get("/api/me", headers={"Authorization": f"Bearer {key}"})
    assert me.status_code == 200, me.text
    info: dict[str, Any] = me.json()
    assert info["simulated_cost"] is True
    assert info["local_engine"]["label"] == "local engine, demo assistant"
    assert info["local_engine"]["transcription_languages"] == ["en"]


async def test_api_me_with_openai_upstream_has_no_engine_label(gateway_factory: Any) -> None:
    async with gateway_factory() as gw:
        _, key = await gw.user_with_key()
        me = await gw.client.get("/api/me", headers={"Authorization": f"Bearer {key}"})
    assert me.status_code == 200, me.text
    assert me.json()["local_engine"] is None
