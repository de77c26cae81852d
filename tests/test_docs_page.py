"""/docs renders voxgate's OpenAPI 3.1 document in Chromium, from local assets, under the strict CSP.

And the document says what the API answers: no 422 (invalid input is a 400), each error in OpenAI's shape.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import ARTIFACTS
from tests.support.server import ServerThread
from voxgate.settings import Settings
from voxgate.web.app import create_app


@pytest.fixture
def served(make_settings: Callable[..., Settings]) -> Iterator[str]:
    with ServerThread(create_app(make_settings())) as server:
        yield server.url


def test_the_schema_documents_400s_not_422s(served: str) -> None:
    schema = httpx.get(f"{served}/openapi.json").json()
    assert schema["openapi"].startswith("3.1")
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    token = schema["paths"]["/api/realtime-token"]["post"]["responses"]
    assert "422" not in token
    assert {"400", "401", "429", "503"} <= set(token)
    error = token["400"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/Error"}
    assert "404" in schema["paths"]["/api/calls/{call_id}"]["get"]["responses"]
    # The answer behind the documented 400: no body where one is required names no 'None'.
    missing = httpx.post(f"{served}/api/auth/signin", headers={"Origin": served})
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "missing_required_parameter"
    assert "None" not in missing.json()["error"]["message"]


@pytest.mark.browser
def test_docs_page_lists_every_operation_under_the_csp(chromium: Any, served: str) -> None:
    page = chromium.new_page()
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    outside: list[str] = []
    page.on("request", lambda req: None if req.url.startswith(served) else outside.append(req.url))
    response = page.goto(f"{served}/docs")
    assert response is not None and response.status == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector(".opblock", timeout=15_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    schema = httpx.get(f"{served}/openapi.json").json()
    expected = set(schema["paths"])
    shown = {text.replace("\u200b", "").strip() for text in paths}
    assert expected <= shown, expected - shown
    assert "Unable to render" not in page.content()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "docs-page.png"))
    assert not problems, problems
    assert not outside, outside
    page.close()
