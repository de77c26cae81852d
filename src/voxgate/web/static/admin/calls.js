// Live calls: user, model, started, duration, cost so far; End, and an instruction for the live session
// (sent through the call's sideband). Refreshed every two seconds while shown.
import { costText, duration } from "../cost.js";
import { t } from "../i18n.js";
import * as admin from "./adminapi.js";
import { el, table, utc } from "./dom.js";

export const REFRESH_MS = 2000;

export async function render(root, { refresh, show }) {
  const { data } = await admin.liveCalls();
  const rows = data.map((call) => {
    const text = el("input", { name: "instructions", size: 28, required: true, "aria-label": t("admin.calls.instruction") });
    return [
      el("code", {}, call.id),
      call.user,
      call.model ?? "",
      utc(call.started_at),
      duration(call.duration_s),
      costText({ cost_usd: call.cost_usd, cost_known: true, simulated: call.simulated }),
      el(
        "div",
        {},
        el(
          "button",
          {
            type: "button",
            class: "danger",
            onclick: async () => {
              try {
                await admin.endCall(call.id);
                await refresh();
              } catch (error) {
                show(error);
              }
            },
          },
          t("admin.calls.end"),
        ),
        el(
          "form",
          {
            class: "inline",
            onsubmit: async (event) => {
              event.preventDefault();
              try {
                await admin.instruct(call.id, text.value.trim(), "append");
                text.value = "";
                root.querySelector("#sent").textContent = t("admin.calls.sent", { id: call.id });
              } catch (error) {
                show(error);
              }
            },
          },
          text,
          el("button", { type: "submit" }, t("admin.calls.instruct")),
        ),
      ),
    ];
  });
  root.replaceChildren(
    el("h1", {}, t("admin.nav.calls")),
    el("p", { id: "sent", role: "status", class: "muted" }),
    data.length
      ? table(
          ["id", t("admin.calls.user"), t("admin.calls.model"), t("admin.calls.started"), t("admin.calls.duration"), t("admin.calls.cost"), ""],
          rows,
        )
      : el("p", {}, t("admin.calls.none")),
  );
}
