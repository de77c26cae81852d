"""Shared fixtures: real SQLite and PostgreSQL, real Redis, the strict fake upstream, gateway clients."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import secrets
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from fastapi import FastAPI

from tests.support.fake_openai import FakeOpenAIState, create_fake_openai
from tests.support.server import ServerThread
from voxgate.settings import Settings
from voxgate.web.app import create_app

T = TypeVar("T")
IN_CI = os.environ.get("CI", "").lower() == "true"
PG_ADMIN_URL = os.environ.get("VOXGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("VOXGATE_TEST_REDIS", "redis://127.0.0.1:6379/0")
CANARY_KEY = "sk-proj-CANARY" + "0123456789abcdefghijklmnopqrstuvwxyzABCDEF"  # a fake key, never real


def service_missing(name: str, why: str) -> None:
    """Skip outside CI (saying so); under CI=true a missing service is a failure."""
    message = f"{name} is not reachable ({why})"
    if IN_CI:
        pytest.fail(f"{message}: CI must provide it")
    pytest.skip(f"{message}: skipped outside CI")


def in_thread(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a loop of its own (sync fixtures may run inside a loop)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


# -- PostgreSQL: one throwaway database per test session ---------------------------------------


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    import asyncpg

    name = "voxgate_test_" + secrets.token_hex(4)

    async def run_sql(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def admin(sql: str) -> None:
        in_thread(run_sql(sql))

    try:
        admin(f'CREATE DATABASE "{name}"')
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        service_missing("PostgreSQL at 127.0.0.1:5432", type(exc).__name__)
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    yield f"{base}/{name}"
    admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _reset_schema(url: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def reset() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await engine.dispose()

    in_thread(reset())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each backend of the SQL interface: real SQLite in tmp_path, real PostgreSQL (emptied first)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'voxgate.db'}"
    url: str = request.getfixturevalue("postgres_url")
    _reset_schema(url)
    return url


# -- Redis -------------------------------------------------------------------------------------


@pytest.fixture
def redis_url() -> str:
    from redis import Redis

    client = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as exc:
        service_missing("Redis at 127.0.0.1:6379", type(exc).__name__)
    finally:
        client.close()
    return REDIS_URL


# -- the fake upstream -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def fake_openai_server() -> Iterator[tuple[ServerThread, FakeOpenAIState]]:
    state = FakeOpenAIState(api_key=CANARY_KEY)
    with ServerThread(create_fake_openai(state)) as server:
        yield server, state


@pytest.fixture
def fake_openai(fake_openai_server: tuple[ServerThread, FakeOpenAIState]) -> Iterator[FakeOpenAIState]:
    _, state = fake_openai_server
    state.reset()
    yield state
    state.reset()


@pytest.fixture
def upstream_url(
    fake_openai_server: tuple[ServerThread, FakeOpenAIState], fake_openai: FakeOpenAIState
) -> str:
    server, _ = fake_openai_server
    return f"{server.url}/v1"


# -- gateway -----------------------------------------------------------------------------------


@pytest.fixture
def make_settings(tmp_path: Path, upstream_url: str) -> Callable[..., Settings]:
    """Settings isolated from the environment and any .env file, pointed at the fake upstream."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "OPENAI_API_KEY": CANARY_KEY,
            "upstream_url": upstream_url,
            "data_dir": tmp_path / "data",
            "upstream_timeout": 2.0,
            # These gateway tests mint upstream client secrets from the strict fake; relay mode (the
            # default) is tested against the real engine, which can answer SDP offers.
            "console_mode": "ephemeral",
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make


@asynccontextmanager
async def running(app: FastAPI, base_url: str = "http://testserver") -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan entered, and a client speaking to it in-process."""
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(app.router.lifespan_context(app))
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)
        await stack.enter_async_context(client)
        yield client


class Gateway:
    """A running gateway and helpers to create users and keys in its database."""

    def __init__(self, app: FastAPI, client: httpx.AsyncClient) -> None:
        self.app = app
        self.client = client

    @property
    def services(self) -> Any:
        return self.app.state.services

    async def user_with_key(self, name: str | None = None, role: str = "user") -> tuple[Any, str]:
        name = name or "user-" + secrets.token_hex(3)
        user = await self.services.accounts.create_user(name, role)
        _, key = await self.services.accounts.create_api_key(name)
        return user, key

    async def mint(self, key: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"}
        return await self.client.post("/api/realtime-token", json=body, headers=headers, **kwargs)


@pytest.fixture
def gateway_factory(make_settings: Callable[..., Settings]) -> Callable[..., Any]:
    @asynccontextmanager
    async def factory(base_url: str = "http://testserver", **overrides: Any) -> AsyncIterator[Gateway]:
        app = create_app(make_settings(**overrides))
        async with running(app, base_url) as client:
            yield Gateway(app, client)

    return factory


@pytest.fixture
async def gateway(gateway_factory: Callable[..., Any]) -> AsyncIterator[Gateway]:
    async with gateway_factory() as gw:
        yield gw


# -- the browser: Debian's chromium driven by pip playwright (never `playwright install`) -----------

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps trying to reach the internet.
CHROMIUM_BASE_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]
# Microphone permission granted without a prompt.
CHROMIUM_ARGS = [*CHROMIUM_BASE_ARGS, "--use-fake-ui-for-media-stream"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


@pytest.fixture
def chromium() -> Iterator[Any]:
    """A headless Chromium browser (skipped outside CI when chromium is not installed, failed in CI)."""
    if not Path(CHROMIUM).exists():
        service_missing("chromium at /usr/bin/chromium", "not installed; make test installs it as root")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
