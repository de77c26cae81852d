"""The sign-in page in a real Chromium: one-time link, key, wrong key, a prefetched token, sign-out.

(The console's calls are tested against the local engine in tests/console.)"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import ARTIFACTS, in_thread
from tests.support.fake_openai import FakeOpenAIState
from tests.support.server import ServerThread
from voxgate.adapters.sql import AccountStore, Database
from voxgate.cli import bootstrap
from voxgate.settings import Settings
from voxgate.web.app import create_app

pytestmark = pytest.mark.browser


@pytest.fixture
def served_gateway(
    make_settings: Callable[..., Settings], fake_openai: FakeOpenAIState
) -> Iterator[dict[str, Any]]:
    settings = make_settings()

    async def prepare() -> tuple[str | None, str]:
        db = Database(settings.effective_database_url)
        try:
            await db.migrate()
            accounts = AccountStore(db)
            link = await bootstrap(accounts, settings, "")
            await accounts.create_user("bea")
            _, key = await accounts.create_api_key("bea")
            return link, key
        finally:
            await db.aclose()

    link, key = in_thread(prepare())
    assert link is not None
    with ServerThread(create_app(settings)) as server:
        yield {"url": server.url, "link": server.url + link, "key": key}


def test_sign_in_flows_in_chromium(chromium: Any, served_gateway: dict[str, Any]) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page = chromium.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    page.goto(served_gateway["url"])
    page.get_by_text("Not signed in.").wait_for()
    page.screenshot(path=str(ARTIFACTS / "signin-form.png"))

    # A wrong key shows an error a person can act on.
    page.fill("#key", "vg_" + "x" * 43)
    page.click("#signin-form button[type=submit]")
    page.locator("#error").get_by_text("That key is not valid.").wait_for()
    page.screenshot(path=str(ARTIFACTS / "signin-bad-key.png"))

    # The one-time link signs the admin in, and the fragment is removed from the address bar.
    page.goto(served_gateway["link"])
    page.locator("#who").get_by_text("admin").wait_for()
    assert "#link" not in page.url
    # Signed in, the console fetches a realtime token ahead of the first click (once Connect is hovered).
    page.hover("#connect-button")
    page.locator("#token-info").get_by_text("Token ready for gpt-realtime-2.1").wait_for()
    page.screenshot(path=str(ARTIFACTS / "signin-token.png"))
    cookies = page.context.cookies()
    (session,) = [c for c in cookies if c["name"] == "voxgate_session"]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Strict"

    page.click("#signout-button")
    page.get_by_text("Not signed in.").wait_for()

    # The same link does not work twice.
    page.goto(served_gateway["link"])
    page.locator("#error").get_by_text("used or expired").wait_for()

    # A key signs in too.
    page.fill("#key", served_gateway["key"])
    page.click("#signin-form button[type=submit]")
    page.locator("#who").get_by_text("bea").wait_for()
    # Only the deliberately failed sign-ins were logged as errors (the browser logs failed fetches).
    assert all("401" in e for e in errors), "\n".join(errors)
    page.close()
