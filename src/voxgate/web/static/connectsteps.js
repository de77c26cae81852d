// The one line that stands for the connect steps (the steps themselves are folded under it): what is
// under way, what failed, or how long the whole connect took.
import { t } from "./i18n.js";

const ORDER = ["token", "mic", "offer", "sdp", "channel", "session"];

/**
 * @param {Map<string, {state: string, ms: number}>} steps name → state and duration
 * @param {(name: string) => boolean} skipped steps this mode does not have (relay: the token)
 * @returns {string} the summary line, translated
 */
export function stepsSummary(steps, skipped = () => false) {
  const names = ORDER.filter((name) => !skipped(name));
  const failed = names.find((name) => steps.get(name)?.state === "failed");
  if (failed) return t("steps.failedAt", { step: t(`steps.${failed}`) });
  const active = names.find((name) => steps.get(name)?.state === "active");
  if (active) return t("steps.at", { step: t(`steps.${active}`) });
  if (names.every((name) => steps.get(name)?.state === "done")) {
    // The microphone opens while the call is set up; the other steps follow one another.
    const chain = names.filter((name) => name !== "mic").reduce((sum, name) => sum + steps.get(name).ms, 0);
    return t("steps.doneIn", { ms: Math.round(Math.max(chain, steps.get("mic")?.ms ?? 0)) });
  }
  return t("steps.details");
}
