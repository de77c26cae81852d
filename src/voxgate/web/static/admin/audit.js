// The audit log: every mint and relay attempt (who, when, from where, outcome), newest first, with
// filters (user, outcome, failures only) and paging.
import { t } from "../i18n.js";
import * as admin from "./adminapi.js";
import { el, table, utc } from "./dom.js";

const PAGE = 25;
const state = { user: "", outcome: "", failed: false, pages: [null] };

export async function render(root, { refresh, show }) {
  const before = state.pages[state.pages.length - 1];
  const page = await admin.audit({ limit: PAGE, before, user: state.user, outcome: state.outcome, failed: state.failed || null });
  const user = el("input", { name: "user", value: state.user, maxLength: 200 });
  const outcome = el("input", { name: "outcome", value: state.outcome, maxLength: 64, placeholder: "ok, relayed, budget_exhausted…" });
  const failed = el("input", { type: "checkbox", name: "failed", checked: state.failed });
  const go = (change) => async () => {
    change();
    try {
      await refresh();
    } catch (error) {
      show(error);
    }
  };
  root.replaceChildren(
    el("h1", {}, t("admin.nav.audit")),
    el(
      "form",
      {
        class: "inline",
        onsubmit: (event) => {
          event.preventDefault();
          go(() => Object.assign(state, { user: user.value.trim(), outcome: outcome.value.trim(), failed: failed.checked, pages: [null] }))();
        },
      },
      el("label", {}, t("admin.audit.user"), user),
      el("label", {}, t("admin.audit.outcome"), outcome),
      el("label", {}, t("admin.audit.failed"), failed),
      el("button", { type: "submit" }, t("admin.audit.filter")),
    ),
    table(
      [t("admin.audit.when"), t("admin.audit.user"), t("admin.audit.ip"), t("admin.audit.model"), t("admin.audit.outcome"), t("admin.audit.status")],
      page.data.map((row) => [utc(row.created_at), row.user ?? "—", row.client_ip, row.model ?? "", row.outcome, String(row.status)]),
    ),
    el(
      "div",
      { class: "pager" },
      el("button", { type: "button", disabled: state.pages.length === 1, onclick: go(() => state.pages.pop()) }, t("admin.audit.newer")),
      el("button", { type: "button", disabled: !page.has_more, onclick: go(() => state.pages.push(page.next)) }, t("admin.audit.older")),
    ),
  );
}
