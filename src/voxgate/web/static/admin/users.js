// Users: add, disable/enable, make admin, a one-time sign-in link; each user's budgets and what is left.
import { money } from "../cost.js";
import { t } from "../i18n.js";
import * as admin from "./adminapi.js";
import { el, table } from "./dom.js";

const LIMITS = ["usd_per_day", "usd_per_month", "minutes_per_day"];
const STANDING = { usd_per_day: "user_usd_per_day", usd_per_month: "user_usd_per_month", minutes_per_day: "user_minutes_per_day" };

/** "$0.4000 of $1.0000 left" for a USD limit, "12.5 of 30 min left" for minutes, or "no limit". */
function left(budget, field) {
  const limit = budget.limits[field];
  if (limit === null) return t("admin.budget.none");
  const standing = budget.standing.find((s) => s.limit === STANDING[field]);
  const minutes = field === "minutes_per_day";
  const show = (v) => (minutes ? `${Number(v).toFixed(1)} min` : money(v));
  return t("admin.budget.left", { left: show(standing ? standing.left : limit), max: show(limit) });
}

export async function render(root, { refresh, show }) {
  const { data } = await admin.listUsers();
  const act = (work) => async () => {
    try {
      await work();
      await refresh();
    } catch (error) {
      show(error);
    }
  };
  const budgetForm = (user) => {
    const inputs = LIMITS.map((field) =>
      el("input", {
        name: field,
        size: 7,
        inputMode: "decimal",
        value: user.budget.overridden.includes(field) ? (user.budget.limits[field] ?? "") : "",
        placeholder: user.budget.limits[field] ?? "∞",
        "aria-label": `${t(`admin.budget.${field}`)} (${user.name})`,
      }),
    );
    return el(
      "form",
      {
        class: "inline",
        onsubmit: (event) => {
          event.preventDefault();
          const body = {};
          for (const input of inputs) if (input.value.trim()) body[input.name] = input.value.trim();
          act(() => admin.setBudget(user.name, body))();
        },
      },
      ...inputs,
      el("button", { type: "submit" }, t("admin.budget.save")),
      el("button", { type: "button", onclick: act(() => admin.resetBudget(user.name)) }, t("admin.budget.reset")),
    );
  };
  const rows = data.map((user) => [
    el("strong", {}, user.name),
    t(`admin.role.${user.role}`),
    user.disabled ? t("admin.users.disabled") : t("admin.users.active"),
    el("div", {}, ...LIMITS.map((f) => el("div", {}, `${t(`admin.budget.${f}`)}: ${left(user.budget, f)}`))),
    budgetForm(user),
    el(
      "div",
      {},
      el(
        "button",
        { type: "button", onclick: act(() => admin.setDisabled(user.name, !user.disabled)) },
        user.disabled ? t("admin.users.enable") : t("admin.users.disable"),
      ),
      el(
        "button",
        { type: "button", onclick: act(() => admin.setRole(user.name, user.role === "admin" ? "user" : "admin")) },
        user.role === "admin" ? t("admin.users.makeUser") : t("admin.users.makeAdmin"),
      ),
      el(
        "button",
        {
          type: "button",
          onclick: async () => {
            try {
              const link = await admin.signinLink(user.name);
              const url = new URL(link.url, location.origin).href;
              root.querySelector("#secret").replaceChildren(t("admin.users.linkFor", { name: user.name }), el("div", { class: "secret" }, url));
            } catch (error) {
              show(error);
            }
          },
        },
        t("admin.users.link"),
      ),
    ),
  ]);
  const name = el("input", { name: "name", required: true, maxLength: 200, autocomplete: "off" });
  const isAdmin = el("input", { type: "checkbox", name: "admin" });
  root.replaceChildren(
    el("h1", {}, t("admin.nav.users")),
    el(
      "form",
      {
        class: "inline",
        onsubmit: (event) => {
          event.preventDefault();
          act(() => admin.addUser(name.value.trim(), isAdmin.checked))();
        },
      },
      el("label", {}, t("admin.users.name"), name),
      el("label", {}, t("admin.users.admin"), isAdmin),
      el("button", { type: "submit" }, t("admin.users.add")),
    ),
    el("div", { id: "secret", role: "status" }),
    table(
      [t("admin.users.name"), t("admin.users.role"), t("admin.users.state"), t("admin.budget.left.title"), t("admin.budget.title"), ""],
      rows,
    ),
  );
}
