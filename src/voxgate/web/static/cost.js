// What calls cost, as the ledger says, formatted for people: money, durations, dates. And the running
// cost of the call in progress (relay mode), polled from the ledger while the call lasts.
import { getCall } from "./api.js";
import { language, t } from "./i18n.js";

const POLL_MS = 3000;

const SCALE = 10n ** 10n; // the ledger keeps ten decimal places

/** A decimal string ("0.0123") as an exact count of 1e-10 USD (BigInt), so sums never drift. */
function units(usd) {
  const [whole, fraction = ""] = String(usd).trim().split(".");
  const sign = whole.startsWith("-") ? -1n : 1n;
  const digits = (fraction + "0".repeat(10)).slice(0, 10);
  return sign * (BigInt(whole.replace("-", "") || "0") * SCALE + BigInt(digits));
}

function decimal(count) {
  const sign = count < 0n ? "-" : "";
  const abs = count < 0n ? -count : count;
  return `${sign}${abs / SCALE}.${String(abs % SCALE).padStart(10, "0")}`;
}

/**
 * "$0.0123" in the page's language; four decimals, as a call costs cents or less. The ledger's
 * decimal string is formatted as it is (Intl takes strings exactly), never through a float.
 */
export function money(usd) {
  return new Intl.NumberFormat(language(), {
    style: "currency",
    currency: "USD",
    minimumFractionDigits: 4,
    maximumFractionDigits: 4,
  }).format(String(usd));
}

/**
 * A call's cost as the ledger gives it ({cost_usd, cost_known, simulated}): the amount, "(simulated)"
 * for the local engine (nothing is billed), and "unknown" rather than a guess when a price is missing.
 */
export function costText({ cost_usd: usd, cost_known: known, simulated }) {
  if (usd === null || usd === undefined || known === false) return t("cost.unknown");
  return simulated ? t("cost.simulated", { amount: money(usd) }) : money(usd);
}

/** "1:05" (or "1:02:05"); null for a call still going on. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return null;
  const total = Math.max(0, Math.round(seconds));
  const [h, m, s] = [Math.floor(total / 3600), Math.floor(total / 60) % 60, total % 60];
  const mmss = `${String(m).padStart(h ? 2 : 1, "0")}:${String(s).padStart(2, "0")}`;
  return h ? `${h}:${mmss}` : mmss;
}

/** A date and time in the page's language. */
export function when(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso ?? "");
  return date.toLocaleString(language(), { dateStyle: "medium", timeStyle: "short" });
}

/**
 * The cost of the conversation in progress: the calls of one session (a reconnect or a renewal starts
 * a new call; they add up), polled every few seconds from GET /api/calls/{id}, and shown in `element`
 * (an aria-live region: it is only written when the text changes).
 */
export class RunningCost {
  constructor(element, { onError } = {}) {
    this.element = element;
    this.onError = onError;
    this.calls = new Map(); // call id → the latest {cost_usd, cost_known, simulated}
    this.current = null;
    this.timer = null;
  }

  /** A new conversation: forget the earlier calls' costs. */
  reset() {
    this.stop();
    this.calls.clear();
    this.render();
  }

  /** Follow `callId` (a vgc_ id) from now on. */
  follow(callId) {
    if (!callId || callId === this.current) return;
    this.stop();
    this.current = callId;
    if (!this.calls.has(callId)) this.calls.set(callId, null);
    this.poll();
  }

  /** Stop polling (hangup); what was shown stays as the call's last known cost. */
  stop() {
    clearTimeout(this.timer);
    this.timer = null;
    this.current = null;
  }

  async poll() {
    const callId = this.current;
    if (!callId) return;
    try {
      const call = await getCall(callId);
      this.calls.set(callId, { cost_usd: call.cost_usd, cost_known: call.cost_known, simulated: call.simulated });
      this.render();
    } catch (error) {
      // A missed poll is shown by the next; a signed-out user is the page's to handle.
      if (error?.status === 401) this.onError?.(error);
    }
    if (this.current === callId) this.timer = setTimeout(() => this.poll(), POLL_MS);
  }

  /** The total over the session's calls, with "(simulated)" or "unknown" as for one call. */
  total() {
    const known = [...this.calls.values()].filter(Boolean);
    if (!known.length) return null;
    if (known.some((c) => c.cost_usd === null || c.cost_usd === undefined || c.cost_known === false)) {
      return { cost_usd: null, cost_known: false, simulated: false };
    }
    const sum = known.reduce((acc, c) => acc + units(c.cost_usd), 0n);
    return { cost_usd: decimal(sum), cost_known: true, simulated: known.some((c) => c.simulated) };
  }

  render() {
    const total = this.total();
    const text = total ? t("cost.running", { cost: costText(total) }) : "";
    if (this.element.textContent !== text) this.element.textContent = text;
  }
}
