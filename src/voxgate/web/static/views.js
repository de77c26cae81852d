// The console's views and their addresses: the call console (/), the History list (/history) and one
// call's transcript (/history/vgc_…). One page: switching views never touches a call in progress, and
// the browser's back and forward buttons move between them.
import { t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const CALL_PATH = /^\/history\/(vgc_[A-Za-z0-9_]+)\/?$/;

/** The view for a path: {name: "console"|"history"|"call", callId?}. */
export function viewOf(pathname) {
  const call = CALL_PATH.exec(pathname);
  if (call) return { name: "call", callId: call[1] };
  if (/^\/history\/?$/.test(pathname)) return { name: "history" };
  return { name: "console" };
}

export class Views {
  /**
   * @param {object} hooks onHistory(), onCall(callId): fill the view being shown
   */
  constructor({ onHistory, onCall }) {
    Object.assign(this, { onHistory, onCall });
    this.signedIn = false;
    this.current = null;
    window.addEventListener("popstate", () => this.route({ focus: true }));
    // Links to views are followed in the page (a modifier key still opens a new tab).
    document.addEventListener("click", (event) => {
      const link = event.target.closest?.("a[data-view]");
      if (!link || event.defaultPrevented || event.button !== 0) return;
      if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
      event.preventDefault();
      this.go(link.getAttribute("href"));
    });
  }

  /** Show the view at `path` and remember it in the browser's history. */
  go(path, { replace = false } = {}) {
    if (path !== location.pathname) {
      if (replace) window.history.replaceState(null, "", path);
      else window.history.pushState(null, "", path);
    }
    this.route({ focus: true });
  }

  /** Signed in or out: views show only to someone signed in. */
  setSignedIn(signedIn) {
    this.signedIn = signedIn;
    $("nav").hidden = !signedIn;
    this.route({ focus: false });
  }

  /** Show the view the address names. `focus`: move the keyboard (and screen reader) to its heading. */
  route({ focus = false } = {}) {
    const view = this.signedIn ? viewOf(location.pathname) : { name: "none" };
    this.current = view;
    $("console").hidden = view.name !== "console";
    $("history-view").hidden = view.name !== "history";
    $("call-view").hidden = view.name !== "call";
    for (const link of document.querySelectorAll("#nav a[data-view]")) {
      const active = link.dataset.view === (view.name === "call" ? "history" : view.name);
      if (active) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    this.retitle();
    if (view.name === "history") this.onHistory();
    if (view.name === "call") this.onCall(view.callId);
    if (focus) {
      const heading = { console: "console-title", history: "history-title", call: "call-title" }[view.name];
      if (heading) $(heading).focus({ preventScroll: false });
    }
  }

  /** The tab's title names the view (read out first by screen readers after a switch). */
  retitle() {
    const key = { history: "history.title", call: "record.heading" }[this.current?.name];
    document.title = key ? `${t(key)} · voxgate` : "voxgate";
  }
}
