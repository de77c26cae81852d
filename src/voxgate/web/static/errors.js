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
      return { key: "error.upstreamBusy", params: { seconds: error.retryAfter || 1 }, help: "error.retryLater" };
    }
    if (error.status === 429) {
      return { key: "error.rateLimited", params: { seconds: error.retryAfter || 1 }, help: "error.rateLimitedHelp" };
    }
    if (error.status === 0) return { key: "error.offline", help: "error.offlineHelp", action: "retry" };
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
        return { key: "error.upstreamBusy", params: { seconds: error.retryAfter || 1 }, help: "error.retryLater" };
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
  /** @param {HTMLElement} box with .error-text, .error-help, .error-detail and button.error-action */
  constructor(box, { onAction } = {}) {
    this.box = box;
    this.onAction = onAction;
    this.current = null;
    box.querySelector(".error-action").addEventListener("click", () => {
      const action = this.current?.action;
      this.clear();
      if (action) this.onAction?.(action);
    });
  }

  show(error) {
    this.current = error ? describe(error) : null;
    this.render();
  }

  /** Show an already-described message ({key, params, help, action}). */
  showMessage(message) {
    this.current = message;
    this.render();
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
