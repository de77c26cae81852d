// Errors a person can act on: each failure becomes a translated message, a hint on what to do, and
// (where one helps) an action button. The error box is re-rendered when the language changes.
import { ApiError } from "./api.js";
import { BUDGET_CODES, CallError } from "./call.js";
import { endMessage } from "./callevents.js";
import { t } from "./i18n.js";
import { MicError } from "./mic.js";

const UPSTREAM_CODES = new Set(["upstream_unreachable", "upstream_timeout", "upstream_error", "upstream_not_configured"]);

/** What to say about `error`: {key, params, help, action} (keys into the locale files). */
export function describe(error) {
  if (error instanceof MicError) {
    const key = { mic_denied: "micDenied", mic_missing: "micMissing", mic_busy: "micBusy" }[error.code] || "micUnavailable";
    return { key: `error.${key}`, help: `error.${key}Help`, action: "retry" };
  }
  if (error instanceof ApiError) {
    if (error.status === 401) {
      // Why a credential that worked stopped working (the server says so with these codes).
      if (error.code === "user_disabled") return { key: "error.userDisabled", help: "error.userDisabledHelp" };
      const why = { key_revoked: "error.keyRevoked", session_revoked: "error.sessionRevoked" }[error.code];
      return { key: why || "error.notSignedIn", help: "error.notSignedInHelp", action: "signin" };
    }
    if (error.limit && error.resetsAt) return endMessage({ limit: error.limit, resets_at: error.resetsAt });
    if (error.status === 402 || BUDGET_CODES.has(error.code)) return { key: "error.budget", help: "error.budgetHelp" };
    if (error.code === "upstream_rate_limited") {
      return { key: "error.upstreamBusy", countdown: error.retryAfter || 1, gate: "connect", help: "error.retryLater" };
    }
    if (error.status === 429) {
      return { key: "error.rateLimited", countdown: error.retryAfter || 1, gate: "connect", help: "error.rateLimitedHelp" };
    }
    // No answer at all, or one that is not voxgate's (a proxy's 502 page has no OpenAI-shaped body):
    // voxgate itself is out of reach, which is not the voice service being down.
    if (error.status === 0 || (error.status >= 500 && !error.code)) {
      return { key: "error.offline", help: "error.offlineHelp", action: "retry" };
    }
    if (error.status >= 500 || UPSTREAM_CODES.has(error.code)) {
      return { key: "error.upstreamDown", help: "error.upstreamDownHelp", detail: error.message, action: "retry" };
    }
    return { key: "error.request", params: { message: error.message } };
  }
  if (error instanceof CallError) {
    switch (error.code) {
      case "ice_failed":
      case "timeout":
        return { key: "error.iceFailed", help: "error.iceFailedHelp", action: "retry" };
      case "budget":
        return { key: "error.budget", help: "error.budgetHelp" };
      case "rate_limited":
        return { key: "error.upstreamBusy", countdown: error.retryAfter || 1, gate: "connect", help: "error.retryLater" };
      case "token_rejected":
        return { key: "error.tokenRejected", help: "error.retryLater", action: "retry" };
      case "upstream_down":
        return { key: "error.upstreamDown", help: "error.upstreamDownHelp", detail: error.message, action: "retry" };
      case "gave_up":
        return { key: "error.connectionLost", help: "error.connectionLostHelp", action: "retry" };
      default:
        return { key: "error.callRejected", params: { message: error.message }, action: "retry" };
    }
  }
  if (error && typeof error === "object" && "message" in error && !(error instanceof Error)) {
    // An "error" event from the session (reference §6.1).
    if (error.code === "session_expired") return { key: "error.sessionExpired" };
    if (error.code === "cannot_update_voice") return { key: "error.voiceLocked" };
    if (error.code === "input_audio_buffer_commit_empty") return { key: "error.nothingHeard" };
    return { key: "error.session", params: { message: error.message || "", code: error.code || error.type || "" } };
  }
  return { key: "error.unexpected", params: { message: error?.message || String(error) } };
}

export class ErrorBox {
  /**
   * @param {HTMLElement} box with .error-text, .error-help, .error-detail and button.error-action
   * @param {{onAction?: (action: string) => void, gates?: Record<string, HTMLElement>}} options gates:
   *   controls a countdown message keeps disabled until its time is up (by name, e.g. "connect")
   */
  constructor(box, { onAction, gates = {} } = {}) {
    this.box = box;
    this.onAction = onAction;
    this.gates = gates;
    this.current = null;
    this.timer = null;
    box.querySelector(".error-action").addEventListener("click", () => {
      const action = this.current?.action;
      this.clear();
      if (action) this.onAction?.(action);
    });
  }

  show(error) {
    this.showMessage(error ? describe(error) : null);
  }

  /**
   * Show an already-described message ({key, params, help, action}). One with `countdown` (seconds)
   * counts down live with its `gate` control disabled, and clears itself when the time is up.
   */
  showMessage(message) {
    this.stopCountdown();
    this.current = message;
    if (message?.countdown) {
      const until = Date.now() + message.countdown * 1000;
      const gate = this.gates[message.gate];
      if (gate) gate.disabled = true;
      const tick = (first) => {
        const seconds = Math.ceil((until - Date.now()) / 1000);
        if (seconds <= 0) return this.clear();
        message.params = { ...message.params, seconds };
        // Announced once: the seconds that follow update the text without being read out each time.
        if (!first) this.box.setAttribute("aria-live", "off");
        this.render();
        this.timer = setTimeout(() => tick(false), until - Date.now() - (seconds - 1) * 1000);
      };
      this.countdownGate = gate;
      return tick(true);
    }
    this.render();
  }

  stopCountdown() {
    this.box.removeAttribute("aria-live");
    clearTimeout(this.timer);
    this.timer = null;
    if (this.countdownGate) this.countdownGate.disabled = false;
    this.countdownGate = null;
  }

  clear() {
    this.show(null);
  }

  render() {
    const message = this.current;
    this.box.hidden = !message;
    if (!message) return;
    this.box.querySelector(".error-text").textContent = t(message.key, message.params);
    const help = this.box.querySelector(".error-help");
    help.textContent = message.help ? t(message.help, message.params) : "";
    help.hidden = !message.help;
    const detail = this.box.querySelector(".error-detail");
    detail.textContent = message.detail || "";
    detail.hidden = !message.detail;
    const button = this.box.querySelector(".error-action");
    button.hidden = !message.action;
    if (message.action) button.textContent = t(`action.${message.action}`);
  }
}
