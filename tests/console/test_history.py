"""The console's History in real Chromium against ``voxgate serve`` on its embedded engine (relay mode):
after a call, History lists it (date, duration, cost, first words); its page shows both sides' text,
usage and cost; the JSON and Markdown exports download; deleting it removes it everywhere.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.console.conftest import Console, ConsolePage, serve_console

pytestmark = pytest.mark.browser

SAID = "please remember the history test"


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """This module's gateway: the console in relay mode, so that every call is in the ledger."""
    with serve_console(tmp_path_factory.mktemp("history"), console_mode="relay") as served:
        yield served


def api_get(page: Any, path: str) -> tuple[int, Any]:
    """GET `path` as the page (its cookie): the status and the JSON body (None if none)."""
    status, body = page.evaluate(
        "async (path) => { const r = await fetch(path); return [r.status, await r.text()]; }", path
    )
    return status, json.loads(body) if body else None


def shown_cost(call: dict[str, Any]) -> str:
    """What the page should show for a call's cost (English): four decimals, "(simulated)" locally."""
    assert call["cost_known"] and call["cost_usd"] is not None, call
    amount = f"${Decimal(call['cost_usd']).quantize(Decimal('0.0001'), ROUND_HALF_UP)}"
    return f"{amount} (simulated)" if call["simulated"] else amount


def test_a_call_in_history_its_transcript_exports_and_delete(
    quiet_browser: Any, open_page: Callable[..., ConsolePage], console: Console, artifacts: Path
) -> None:
    console_page = open_page(quiet_browser, accept_downloads=True).open().sign_in()
    page = console_page.page
    call_id = console_page.connect()
    assert call_id.startswith("vgc_")
    # The running cost shows while the call lasts.
    page.locator("#call-cost").get_by_text("(simulated)").wait_for()
    page.fill("#text-input", SAID)
    page.keyboard.press("Enter")
    page.locator("#transcript .msg-assistant").get_by_text(f'You said: "{SAID}"').wait_for()
    console_page.wait_event("response.done")
    # The ledger has the answer and its cost (the supervisor writes what the sideband saw); the running
    # cost shown follows it.
    console_page.poll(
        "(id) => fetch(`/api/calls/${id}`).then(r => r.json()).then(c => c.responses.length >= 1"
        " && c.items.some(i => i.role === 'assistant' && i.text))",
        call_id,
    )
    _, live = api_get(page, f"/api/calls/{call_id}")
    assert live["live"] is True
    page.locator("#call-cost").get_by_text(f"Cost of this call: {shown_cost(live)}").wait_for()
    page.click("#stop-button")
    page.locator("#call-state[data-state=idle]").wait_for()
    console_page.poll("(id) => fetch(`/api/calls/${id}`).then(r => r.json()).then(c => !c.live)", call_id)
    _, call = api_get(page, f"/api/calls/{call_id}")
    assert call["ended_at"] and call["duration_s"] is not None and call["mode"] == "relay"

    # History, from the header: the call with its date, duration, cost and first words.
    page.click("#nav a[data-view=history]")
    page.wait_for_url(f"{console.url}/history")
    assert page.locator("#console").is_hidden()
    assert page.locator("#nav a[aria-current=page]").inner_text() == "History"
    row = page.locator(f"#history-rows tr[data-call-id='{call_id}']")
    row.wait_for()
    cells = row.locator("td").all_inner_texts()
    assert SAID in cells[3], cells
    minutes, seconds = re.fullmatch(r"(\d+):(\d\d)", cells[1]).groups()  # type: ignore[union-attr]
    assert int(minutes) * 60 + int(seconds) == round(call["duration_s"]), (cells[1], call["duration_s"])
    assert cells[2] == shown_cost(call), cells
    assert re.search(r"\d", cells[0]), cells
    assert page.title().startswith("Call history")
    console_page.screenshot(artifacts, "21-history")

    # Its page: both sides' text in order, usage and cost.
    row.locator("a").click()
    page.wait_for_url(f"{console.url}/history/{call_id}")
    page.locator("#call-body").wait_for()
    assert page.locator("#call-title").inner_text().startswith("Call of ")
    messages = page.eval_on_selector_all(
        "#call-transcript .msg", "els => els.map(e => [e.dataset.role, e.querySelector('.text').textContent])"
    )
    assert [role for role, _ in messages] == ["user", "assistant"], messages
    assert messages[0][1] == SAID and messages[1][1].startswith(f'You said: "{SAID}"'), messages
    assert messages == [[i["role"], i["text"]] for i in call["items"]]
    usage = dict(
        zip(
            page.locator("#call-usage dt").all_inner_texts(),
            page.locator("#call-usage dd").all_inner_texts(),
            strict=True,
        )
    )
    assert call["usage"]["output_tokens"] > 0
    assert usage["Input tokens"] == f"{call['usage']['input_tokens']:,}"
    assert usage["Output tokens"] == f"{call['usage']['output_tokens']:,}"
    assert usage["Responses"] == str(len(call["responses"]))
    assert usage["Cost"] == shown_cost(call)
    facts = dict(
        zip(
            page.locator("#call-facts dt").all_inner_texts(),
            page.locator("#call-facts dd").all_inner_texts(),
            strict=True,
        )
    )
    assert facts["Model"] == call["model"] and facts["Connection"] == "relayed by voxgate"
    assert facts["Cost"] == shown_cost(call)
    assert page.locator("#call-responses tr").count() == len(call["responses"])
    console_page.screenshot(artifacts, "22-call-transcript")

    # The page's own address opens it too (a bookmark, a reload).
    page.reload()
    page.locator("#call-transcript .msg-user").get_by_text(SAID).wait_for()

    # Exports: JSON (what the API answers) and Markdown, downloaded as files.
    with page.expect_download() as json_download:
        page.click("#export-json")
    exported = json.loads(Path(json_download.value.path()).read_text())
    assert json_download.value.suggested_filename.endswith(".json")
    assert exported["id"] == call_id
    assert [(i["role"], i["text"]) for i in exported["items"]] == [
        (i["role"], i["text"]) for i in call["items"]
    ]
    assert exported["cost_usd"] == call["cost_usd"] and exported["usage"] == call["usage"]
    with page.expect_download() as md_download:
        page.click("#export-md")
    markdown = Path(md_download.value.path()).read_text()
    assert md_download.value.suggested_filename.endswith(".md")
    assert call_id in markdown and SAID in markdown and f'You said: "{SAID}"' in markdown

    # Delete, after confirming: gone from the list and from the API.
    page.click("#delete-call")
    dialog = page.locator("#delete-dialog")
    dialog.wait_for()
    dialog.get_by_role("button", name="Cancel").click()
    assert dialog.is_hidden() and api_get(page, f"/api/calls/{call_id}")[0] == 200
    page.click("#delete-call")
    dialog.get_by_role("button", name="Delete for good").click()
    page.wait_for_url(f"{console.url}/history")
    page.locator("#history-status").get_by_text("The call was deleted.").wait_for()
    assert page.locator(f"#history-rows tr[data-call-id='{call_id}']").count() == 0
    assert console_page.errors == [], console_page.errors
    status, body = api_get(page, f"/api/calls/{call_id}")
    assert status == 404 and body["error"]["code"] == "call_not_found"
    listed = api_get(page, "/api/calls?limit=100")[1]["data"]
    assert call_id not in [c["id"] for c in listed]

    # Back to the console from the header; the browser's back button returns to History.
    page.click("#nav a[data-view=console]")
    page.locator("#console").wait_for()
    page.go_back()
    page.locator("#history-view").wait_for()


def test_the_pure_pieces(quiet_browser: Any, open_page: Callable[..., ConsolePage]) -> None:
    """Formatting and addresses, run in the page as the console runs them (ES modules, imported)."""
    page = open_page(quiet_browser).open().page
    result = page.evaluate(
        """async () => {
          const cost = await import("/static/cost.js");
          const { viewOf } = await import("/static/views.js");
          const { relayOverrides } = await import("/static/session.js");
          const running = new cost.RunningCost(document.createElement("p"));
          running.calls.set("a", { cost_usd: "0.00004", cost_known: true, simulated: true });
          running.calls.set("b", { cost_usd: "0.1234567891", cost_known: true, simulated: true });
          const unknown = new cost.RunningCost(document.createElement("p"));
          unknown.calls.set("a", { cost_usd: "0.01", cost_known: true, simulated: false });
          unknown.calls.set("b", { cost_usd: null, cost_known: false, simulated: false });
          return {
            costs: [
              cost.costText({ cost_usd: "0.00125", cost_known: true, simulated: false }),
              cost.costText({ cost_usd: "0", cost_known: true, simulated: true }),
              cost.costText({ cost_usd: null, cost_known: false, simulated: true }),
              cost.costText({ cost_usd: "1.5", cost_known: false, simulated: false }),
            ],
            total: running.total(),
            unknown: unknown.total(),
            durations: [0, 7.4, 65, 3725, null].map(cost.duration),
            views: ["/", "/signin", "/history", "/history/", "/history/vgc_0a1b", "/history/rtc_x"]
              .map((path) => viewOf(path)),
            overrides: [
              relayOverrides({ voice: "cedar", language: "fr" }),
              relayOverrides({ voice: "", language: "auto" }),
              relayOverrides({ voice: "ash", language: "auto" }),
            ],
          };
        }"""
    )
    # Exact decimals, rounded half up to four places; "unknown" rather than a guess.
    assert result["costs"] == ["$0.0013", "$0.0000 (simulated)", "unknown", "unknown"]
    assert result["total"] == {"cost_usd": "0.1234967891", "cost_known": True, "simulated": True}
    assert result["unknown"] == {"cost_usd": None, "cost_known": False, "simulated": False}
    assert result["durations"] == ["0:00", "0:07", "1:05", "1:02:05", None]
    assert result["views"] == [
        {"name": "console"},
        {"name": "console"},
        {"name": "history"},
        {"name": "history"},
        {"name": "call", "callId": "vgc_0a1b"},
        {"name": "console"},
    ]
    assert result["overrides"] == [
        {"audio": {"output": {"voice": "cedar"}, "input": {"transcription": {"language": "fr"}}}},
        {},
        {"audio": {"output": {"voice": "ash"}}},
    ]
