// What voxgate itself says about the call in progress (relay mode): its cost, budget warnings, and why
// voxgate ended it, from the server-sent events at GET /api/calls/{id}/events. With OpenAI the data
// channel runs between the browser and OpenAI, so only voxgate can tell the page these things.
import { language, t } from "./i18n.js";

/** End reasons that are voxgate's decision: the console says why and does not reconnect. */
export const FINAL_REASONS = new Set(["budget_exhausted", "max_duration", "user_disabled", "key_revoked", "admin_ended"]);

/** "00:00 UTC" (or a date and time for a monthly budget) from an ISO time. */
function resetTime(iso, limit) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso ?? "");
  const time = date.toLocaleTimeString(language(), { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: "UTC" });
  if (limit !== "user_usd_per_month") return `${time} UTC`;
  return `${date.toLocaleDateString(language(), { dateStyle: "medium", timeZone: "UTC" })} ${time} UTC`;
}

/** The message ({key, params}) for a call voxgate ended, or for a budget refusal with its limit. */
export function endMessage(data) {
  const reason = data?.reason;
  if (reason === "budget_exhausted" || (data?.limit && data?.resets_at)) {
    return {
      // A call voxgate ended, or a connect it refused.
      key: reason ? "ended.budget" : "error.budgetUntil",
      params: { budget: t(`budget.${data.limit}`), time: resetTime(data.resets_at, data.limit) },
      help: "error.budgetHelp",
    };
  }
  if (reason === "max_duration") return { key: "ended.maxDuration", params: { minutes: data.max_minutes ?? "" } };
  if (reason === "user_disabled") return { key: "error.userDisabled", help: "error.userDisabledHelp" };
  if (reason === "key_revoked") return { key: "error.keyRevoked", help: "error.notSignedInHelp" };
  return { key: "ended.byAdmin" };
}

/** The warning's words ({key, params}). */
export function warningMessage(data) {
  if (data?.kind === "max_duration") return { key: "warning.maxDuration", params: { minutes: data.max_minutes ?? "" } };
  return { key: "warning.budget", params: { budget: t(`budget.${data?.kind}`) } };
}

export class CallEvents {
  /** @param hooks onCost({cost_usd, simulated}), onWarning(data), onEnded(data), onInstruction(data) */
  constructor(hooks = {}) {
    this.hooks = hooks;
    this.source = null;
    this.callId = null;
  }

  /** Listen to `callId` from now on (a new call replaces the previous one's stream). */
  follow(callId) {
    if (!callId || callId === this.callId) return;
    this.stop();
    this.callId = callId;
    const source = (this.source = new EventSource(`/api/calls/${encodeURIComponent(callId)}/events`));
    const on = (name, hook) =>
      source.addEventListener(name, (event) => {
        if (this.source !== source) return;
        try {
          hook(JSON.parse(event.data));
        } catch {
          // A malformed event changes nothing on the page.
        }
      });
    on("cost", (data) => this.hooks.onCost?.(data));
    on("warning", (data) => this.hooks.onWarning?.(data));
    on("instruction", (data) => this.hooks.onInstruction?.(data));
    on("ended", (data) => {
      this.stop(); // the stream ends here: no automatic reconnection of the EventSource
      this.hooks.onEnded?.(data);
    });
  }

  /** Stop listening. */
  stop() {
    this.source?.close();
    this.source = null;
    this.callId = null;
  }
}
