// The transcript's Copy and Download buttons: the conversation as plain text, to the clipboard or to a
// .txt file named after the time. Both are disabled while there is nothing to take.
import { t } from "./i18n.js";

/**
 * @param {import("./transcript.js").Transcript} transcript
 * @param {{copy: HTMLButtonElement, download: HTMLButtonElement, status: HTMLElement}} controls
 */
export function transcriptTools(transcript, { copy, download, status }) {
  const say = (key) => {
    status.textContent = t(key);
    clearTimeout(say.timer);
    say.timer = setTimeout(() => (status.textContent = ""), 3000);
  };
  const update = () => {
    const empty = !transcript.element.querySelector(".msg");
    copy.disabled = download.disabled = empty;
  };
  new MutationObserver(update).observe(transcript.element, { childList: true });
  update();

  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(transcript.asText());
      say("transcript.copied");
    } catch {
      say("transcript.copyFailed");
    }
  });
  download.addEventListener("click", () => {
    const blob = new Blob([transcript.asText()], { type: "text/plain;charset=utf-8" });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-");
    link.download = `voxgate-transcript-${stamp}.txt`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  });
}
