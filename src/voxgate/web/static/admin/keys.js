// API keys: create (the key is shown this once), list by hint, revoke.
import { t } from "../i18n.js";
import * as admin from "./adminapi.js";
import { el, table, utc } from "./dom.js";

export async function render(root, { refresh, show }) {
  const { data } = await admin.listKeys();
  const user = el("input", { name: "user", required: true, maxLength: 200, autocomplete: "off" });
  const label = el("input", { name: "label", value: "default", maxLength: 200 });
  const secret = el("div", { id: "secret", role: "status" });
  const rows = data.map((key) => [
    String(key.id),
    key.user,
    key.name,
    `${key.hint}…`,
    utc(key.created_at),
    key.last_used_at ? utc(key.last_used_at) : t("admin.keys.never"),
    key.revoked
      ? t("admin.keys.revoked")
      : el(
          "button",
          {
            type: "button",
            onclick: async () => {
              try {
                await admin.revokeKey(key.id);
                await refresh();
              } catch (error) {
                show(error);
              }
            },
          },
          t("admin.keys.revoke"),
        ),
  ]);
  root.replaceChildren(
    el("h1", {}, t("admin.nav.keys")),
    el(
      "form",
      {
        class: "inline",
        onsubmit: async (event) => {
          event.preventDefault();
          try {
            const created = await admin.createKey(user.value.trim(), label.value.trim() || "default");
            await refresh();
            root.querySelector("#secret").replaceChildren(
              t("admin.keys.shownOnce", { user: created.user }),
              el("div", { class: "secret" }, created.key),
            );
          } catch (error) {
            show(error);
          }
        },
      },
      el("label", {}, t("admin.keys.user"), user),
      el("label", {}, t("admin.keys.label"), label),
      el("button", { type: "submit" }, t("admin.keys.create")),
    ),
    secret,
    table(["id", t("admin.keys.user"), t("admin.keys.label"), t("admin.keys.hint"), t("admin.keys.created"), t("admin.keys.lastUsed"), ""], rows),
  );
}
