// History: the signed-in user's calls as the ledger recorded them (date, duration, cost, first words),
// newest first with "older" paging, and one call's page: both sides' text in order with their marks,
// usage and cost, export (JSON, Markdown) and delete. Drawn again from the data held when the language
// changes; nothing here is a secret (the ledger never holds one).
import { ApiError, deleteCall, exportUrl, getCall, listCalls } from "./api.js";
import { costText, duration, money, when } from "./cost.js";
import { language, t } from "./i18n.js";
import { Transcript } from "./transcript.js";

const $ = (id) => document.getElementById(id);
const PAGE_SIZE = 20;

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function fact(list, key, value, params = {}) {
  if (value === null || value === undefined || value === "") return;
  const dt = document.createElement("dt");
  dt.dataset.i18n = key;
  dt.textContent = t(key, params);
  const dd = document.createElement("dd");
  dd.textContent = String(value);
  list.append(dt, dd);
}

const count = (n) => (typeof n === "number" ? n.toLocaleString(language()) : null);

export class HistoryView {
  /**
   * @param {object} hooks onError(error); onOpen(path): show another view (the list after a delete)
   */
  constructor({ onError, onOpen }) {
    Object.assign(this, { onError, onOpen });
    this.rows = []; // the calls listed so far
    this.hasMore = false;
    this.admin = false;
    this.detail = null; // the call shown on its page
    this.loading = null;
    this.notice = null; // a message for the next drawing of the list, e.g. "deleted"
    $("history-older").addEventListener("click", () => this.load({ more: true }));
    $("history-refresh").addEventListener("click", () => this.load());
    $("delete-call").addEventListener("click", () => this.askDelete());
    $("delete-dialog").addEventListener("close", () => {
      if ($("delete-dialog").returnValue === "delete") this.remove();
      else $("delete-call").focus();
    });
  }

  /** Who is signed in: admins see whose call each one is. */
  setUser(user) {
    this.admin = user?.role === "admin";
    this.rows = [];
    this.detail = null;
  }

  // ---- the list ------------------------------------------------------------------------------------

  /** Load the newest page (or, with `more`, the page after the last call listed). */
  async load({ more = false } = {}) {
    const before = more ? this.rows.at(-1)?.started_at : null;
    const status = $("history-status");
    status.dataset.i18n = "history.loading";
    status.textContent = t("history.loading");
    $("history-older").disabled = true;
    const loading = (this.loading = listCalls({ limit: PAGE_SIZE, before }));
    try {
      const page = await loading;
      if (loading !== this.loading) return;
      this.rows = more ? [...this.rows, ...page.data] : page.data;
      this.hasMore = Boolean(page.has_more);
      this.renderList({ added: more ? page.data.length : null });
    } catch (error) {
      if (loading !== this.loading) return;
      status.dataset.i18n = "history.failed";
      status.textContent = t("history.failed");
      this.onError(error);
    } finally {
      $("history-older").disabled = false;
    }
  }

  renderList({ added = null } = {}) {
    const body = $("history-rows");
    $("history-table").dataset.admin = String(this.admin);
    body.replaceChildren(...this.rows.map((call) => this.row(call)));
    $("history-table").hidden = !this.rows.length;
    $("history-older").hidden = !this.hasMore;
    const status = $("history-status");
    const notice = this.notice;
    this.notice = null;
    const [key, params] = notice
      ? [notice, {}]
      : !this.rows.length
        ? ["history.empty", {}]
        : added !== null
          ? ["history.loadedMore", { n: added }]
          : ["history.count", { n: this.rows.length }];
    status.dataset.i18n = key;
    status.dataset.i18nParams = JSON.stringify(params);
    status.textContent = t(key, params);
  }

  row(call) {
    const tr = document.createElement("tr");
    tr.dataset.callId = call.id;
    const date = document.createElement("td");
    const link = document.createElement("a");
    link.href = `/history/${encodeURIComponent(call.id)}`;
    link.dataset.view = "call";
    link.textContent = when(call.started_at);
    date.append(link);
    const lasted = call.ended_at ? duration(call.duration_s) : t("history.live");
    tr.append(
      date,
      cell(lasted ?? "—", "num"),
      cell(costText(call), "num"),
      cell(call.first_words || t("history.noWords"), call.first_words ? "words" : "words none"),
    );
    if (this.admin) tr.append(cell(call.user || "—"));
    return tr;
  }

  // ---- one call ------------------------------------------------------------------------------------

  async open(callId) {
    const status = $("call-status");
    status.dataset.i18n = "history.loading";
    status.textContent = t("history.loading");
    $("call-body").hidden = true;
    this.detail = null;
    try {
      const call = await getCall(callId);
      this.detail = call;
      this.renderCall();
    } catch (error) {
      const missing = error instanceof ApiError && error.status === 404;
      status.dataset.i18n = missing ? "record.notFound" : "history.failed";
      status.textContent = t(status.dataset.i18n);
      $("call-title").textContent = t("record.heading");
      if (!missing) this.onError(error);
    }
  }

  renderCall() {
    const call = this.detail;
    if (!call) return;
    $("call-title").textContent = t("record.title", { date: when(call.started_at) });
    const status = $("call-status");
    if (call.live) {
      status.dataset.i18n = "record.live";
      status.textContent = t("record.live");
    } else {
      delete status.dataset.i18n;
      status.textContent = "";
    }
    $("call-body").hidden = false;

    const facts = $("call-facts");
    facts.replaceChildren();
    fact(facts, "record.started", when(call.started_at));
    fact(facts, "record.ended", call.ended_at ? when(call.ended_at) : t("history.live"));
    fact(facts, "history.duration", duration(call.duration_s));
    fact(facts, "record.endReason", call.end_reason);
    fact(facts, "record.model", call.model);
    fact(facts, "record.voice", typeof call.voice === "string" ? call.voice : call.voice?.id);
    fact(facts, "record.mode", call.mode ? t(`record.mode.${call.mode}`) : null);
    fact(facts, "record.api", call.api === "live" ? "GPT-Live" : call.api ? "Realtime" : null);
    if (this.admin) fact(facts, "record.user", call.user);
    fact(facts, "history.cost", costText(call));

    const usage = call.usage || {};
    const list = $("call-usage");
    list.replaceChildren();
    // A GPT-Live call is billed per second of session time (one cumulative usage), not per token.
    const session = (call.responses || []).find((r) => r.response_id === "session.usage")?.usage;
    if (session) {
      fact(list, "usage.sessionTime", t("usage.seconds", { n: session.seconds }));
      if (typeof session.active_seconds === "number") {
        fact(list, "usage.active", t("usage.seconds", { n: session.active_seconds }));
        fact(list, "usage.standby", t("usage.seconds", { n: session.paused_seconds ?? 0 }));
      }
    } else {
      fact(list, "usage.input", count(usage.input_tokens));
      fact(list, "usage.inputAudio", count(usage.input_audio_tokens));
      fact(list, "usage.cached", count(usage.cached_tokens));
      fact(list, "usage.output", count(usage.output_tokens));
      fact(list, "usage.outputAudio", count(usage.output_audio_tokens));
      fact(list, "usage.responses", count((call.responses || []).length));
      if (typeof call.transcription_seconds === "number") {
        fact(list, "usage.transcription", t("usage.seconds", { n: call.transcription_seconds.toFixed(1) }));
      }
    }
    fact(list, "history.cost", costText(call));
    this.renderResponses(session ? [] : call.responses || [], call.simulated);

    const json = $("export-json");
    json.href = exportUrl(call.id, "json");
    const md = $("export-md");
    md.href = exportUrl(call.id, "md");

    const transcript = new Transcript($("call-transcript"));
    transcript.clear();
    for (const item of call.items || []) {
      const role = item.role === "user" ? "user" : "assistant";
      const entry = transcript.entry(item.item_id, role);
      entry.dataset.role = item.role;
      transcript.set(item.item_id, role, item.text ?? "");
      if (!item.text) entry.querySelector(".text").textContent = t("record.noText");
      if (item.type && item.type !== "message") entry.querySelector(".who").textContent = item.type;
      if (item.interrupted) transcript.mark(item.item_id, "interrupted");
      else if (item.status && item.status !== "completed") this.badge(entry, t("record.status", { status: item.status }));
      if (typeof item.truncated_ms === "number") {
        this.badge(entry, t("record.played", { seconds: (item.truncated_ms / 1000).toFixed(1) }));
      }
    }
    if (!(call.items || []).length) transcript.note("record.noItems");
  }

  badge(entry, text) {
    const badge = document.createElement("span");
    badge.className = "badge badge-info";
    badge.textContent = text;
    entry.append(" ", badge);
  }

  renderResponses(responses, simulated) {
    const body = $("call-responses");
    body.replaceChildren(
      ...responses.map((response) => {
        const tr = document.createElement("tr");
        const usage = response.usage || {};
        const cost = response.cost_usd === null || response.cost_usd === undefined
          ? t("cost.unknown")
          : simulated
            ? t("cost.simulated", { amount: money(response.cost_usd) })
            : money(response.cost_usd);
        tr.append(
          cell(response.status || "—"),
          cell(count(usage.input_tokens) ?? "—", "num"),
          cell(count(usage.output_tokens) ?? "—", "num"),
          cell(cost, "num"),
        );
        return tr;
      }),
    );
    $("call-responses-table").hidden = !responses.length;
  }

  // ---- delete --------------------------------------------------------------------------------------

  askDelete() {
    if (!this.detail) return;
    const dialog = $("delete-dialog");
    dialog.returnValue = "";
    dialog.showModal();
    dialog.querySelector("button[value=cancel]").focus();
  }

  async remove() {
    const call = this.detail;
    if (!call) return;
    try {
      await deleteCall(call.id);
    } catch (error) {
      this.onError(error);
      return;
    }
    this.detail = null;
    this.rows = this.rows.filter((row) => row.id !== call.id);
    this.notice = "history.deleted"; // said once the list is drawn again
    this.onOpen("/history");
  }

  /** Redraw in the new language. */
  retranslate(view) {
    if (view === "history") this.renderList();
    if (view === "call") this.renderCall();
  }
}
