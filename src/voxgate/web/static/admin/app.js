// The admin console's wiring: who is signed in (admins only), the nav, the section for the address, the
// language. Each section renders itself from the admin API and is re-rendered after every action.
import { ApiError, me } from "../api.js";
import { describe } from "../errors.js";
import { LANGUAGES, language, onLanguageChange, pickLanguage, setLanguage, t, translate } from "../i18n.js";
import * as audit from "./audit.js";
import * as calls from "./calls.js";
import * as keys from "./keys.js";
import { renderNav } from "./nav.js";
import * as users from "./users.js";

const $ = (id) => document.getElementById(id);
const SECTIONS = { users, keys, calls, audit };
const current = location.pathname.split("/")[2] || "users";
const section = SECTIONS[current] || users;
let timer = null;

function show(error) {
  const box = $("error");
  box.hidden = !error;
  if (!error) return;
  const message = error instanceof ApiError && error.status !== 403 ? describe(error) : null;
  box.querySelector(".error-text").textContent =
    error instanceof ApiError && error.status === 403
      ? t("admin.forbidden")
      : message && message.key !== "error.request"
        ? t(message.key, message.params)
        : error.message || String(error);
}

async function refresh() {
  clearTimeout(timer);
  try {
    await section.render($("section"), { refresh, show });
    $("status").textContent = "";
  } catch (error) {
    show(error);
  }
  // Live calls change by themselves: follow them while the page shows them.
  if (section === calls) timer = setTimeout(refresh, calls.REFRESH_MS);
}

async function start() {
  await setLanguage(pickLanguage(), { remember: false });
  const select = $("ui-language");
  select.replaceChildren(...Object.entries(LANGUAGES).map(([code, name]) => new Option(name, code, false, code === language())));
  select.addEventListener("change", () => setLanguage(select.value));
  onLanguageChange(() => {
    translate();
    renderNav($("admin-nav"), current, t);
    refresh();
  });
  translate();
  renderNav($("admin-nav"), current, t);
  let info;
  try {
    info = await me();
  } catch (error) {
    $("status").textContent = t("admin.signIn");
    return;
  }
  $("who").textContent = `${info.user.name} (${t(`admin.role.${info.user.role}`)})`;
  if (info.user.role !== "admin") {
    show(new ApiError(403, { message: t("admin.forbidden") }));
    return;
  }
  document.documentElement.dataset.ready = "1";
  await refresh();
}

start();
