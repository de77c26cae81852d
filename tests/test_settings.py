"""Settings: one object, from VOXGATE_* variables and .env, with the defaults the README promises."""

from __future__ import annotations

from pathlib import Path

import pytest

from voxgate.settings import OPENAI_API_URL, Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("VOXGATE_") or name == "OPENAI_API_KEY":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults() -> None:
    settings = Settings()
    assert settings.openai_api_key is None
    assert settings.effective_upstream_url is None
    assert settings.effective_database_url.startswith("sqlite+aiosqlite:///")
    assert settings.effective_database_url.endswith("/data/voxgate.db")
    assert settings.redis_url is None
    assert settings.cors_origins == []
    assert settings.policy.ttl_default == 300
    assert settings.policy.ttl_max == 600
    assert settings.limits.mint_per_user == "10/minute;100/hour"
    assert settings.policy.turn_detection is not None
    assert settings.policy.turn_detection["silence_duration_ms"] == 200


def test_key_selects_openai_and_stays_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-real-1234567890")
    settings = Settings()
    assert settings.effective_upstream_url == OPENAI_API_URL
    assert "sk-test" not in repr(settings)
    assert "sk-test" not in settings.model_dump_json()


def test_environment_and_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "VOXGATE_POLICY__VOICE=cedar\nVOXGATE_REDIS_URL=redis://127.0.0.1:6379/3\n"
    )
    monkeypatch.setenv("VOXGATE_UPSTREAM_URL", "http://127.0.0.1:9000/v1/")
    monkeypatch.setenv("VOXGATE_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("VOXGATE_POLICY__TTL_MAX", "120")
    monkeypatch.setenv("VOXGATE_LIMITS__MINT_PER_USER", "5/minute")
    monkeypatch.setenv("VOXGATE_POLICY__ALLOWED_VOICES", '["cedar", "marin"]')
    settings = Settings()
    assert settings.effective_upstream_url == "http://127.0.0.1:9000/v1"
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.policy.voice == "cedar"
    assert settings.policy.ttl_max == 120
    assert settings.policy.allowed_voices == ["cedar", "marin"]
    assert settings.limits.mint_per_user == "5/minute"
    assert settings.redis_url == "redis://127.0.0.1:6379/3"


def test_postgres_url_is_used_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOXGATE_DATABASE_URL", "postgresql+asyncpg://u@127.0.0.1/db")
    assert Settings().effective_database_url == "postgresql+asyncpg://u@127.0.0.1/db"
