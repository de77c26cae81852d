// The transcript: one entry per conversation item (keyed by item id) and short notes such as
// "reconnecting…". The element is an ARIA live region (role="log"); an entry still being streamed is
// aria-busy so screen readers read it once it is complete rather than word by word. Each entry carries
// the time it began; asText() is the conversation as plain text (copy, download).
import { language, t } from "./i18n.js";

const LABELS = { user: "transcript.you", assistant: "transcript.assistant" };

export class Transcript {
  /** @param {{stamps?: boolean}} options stamps: show when each entry began (a live call's, not a past one's) */
  constructor(element, { stamps = false } = {}) {
    this.element = element;
    this.stamps = stamps;
    this.entries = new Map();
  }

  has(id) {
    return this.entries.has(id);
  }

  textOf(id) {
    return this.entries.get(id)?.querySelector(".text").textContent ?? "";
  }

  /** The entry for item `id`, created at the end if new. */
  entry(id, role) {
    let entry = this.entries.get(id);
    if (entry) return entry;
    entry = document.createElement("div");
    entry.className = `msg msg-${role}`;
    entry.dataset.itemId = id;
    entry.dataset.role = role;
    const who = document.createElement("span");
    who.className = "who";
    who.dataset.i18n = LABELS[role] || "transcript.assistant";
    who.textContent = t(who.dataset.i18n);
    entry.append(who);
    if (this.stamps) {
      const stamp = document.createElement("time");
      stamp.className = "stamp";
      const now = new Date();
      stamp.dateTime = now.toISOString();
      stamp.textContent = now.toLocaleTimeString(language(), { hour: "2-digit", minute: "2-digit", second: "2-digit" });
      entry.append(stamp);
    }
    const text = document.createElement("p");
    text.className = "text";
    entry.append(text);
    this.entries.set(id, entry);
    this.add(entry);
    return entry;
  }

  /** An entry waiting for its text (e.g. speech not yet transcribed). */
  pending(id, role) {
    const entry = this.entry(id, role);
    if (!entry.querySelector(".text").textContent) entry.classList.add("pending");
    entry.setAttribute("aria-busy", "true");
  }

  append(id, role, delta) {
    const entry = this.entry(id, role);
    entry.classList.remove("pending");
    entry.setAttribute("aria-busy", "true");
    entry.querySelector(".text").textContent += delta;
    this.follow();
  }

  /** The final text of an entry (replaces what was streamed). */
  set(id, role, text) {
    const entry = this.entry(id, role);
    if (text !== undefined && text !== null) entry.querySelector(".text").textContent = text;
    entry.classList.remove("pending");
    entry.removeAttribute("aria-busy");
    this.follow();
  }

  /** Mark an entry, e.g. "interrupted" or "failed" (a translated badge after its text). */
  mark(id, state) {
    const entry = this.entries.get(id);
    if (!entry || entry.querySelector(`.badge[data-state="${state}"]`)) return;
    entry.removeAttribute("aria-busy");
    entry.classList.remove("pending");
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.dataset.state = state;
    badge.dataset.i18n = `transcript.${state}`;
    badge.textContent = t(badge.dataset.i18n);
    entry.append(badge);
  }

  remove(id) {
    this.entries.get(id)?.remove();
    this.entries.delete(id);
  }

  /** A short translated note between entries ("reconnecting…", "resumed"). */
  note(key, kind = "info") {
    const note = document.createElement("p");
    note.className = `note note-${kind}`;
    note.dataset.i18n = key;
    note.textContent = t(key);
    this.add(note);
    return note;
  }

  /** The conversation as plain text: "[time] Who: text" per entry, notes in parentheses. */
  asText() {
    const lines = [];
    for (const node of this.element.children) {
      if (node.classList.contains("note")) lines.push(`(${node.textContent})`);
      else if (node.classList.contains("msg")) {
        const text = node.querySelector(".text").textContent.trim();
        const badges = [...node.querySelectorAll(".badge")].map((b) => ` [${b.textContent}]`).join("");
        const who = node.querySelector(".who").textContent;
        const stamp = node.querySelector(".stamp");
        if (text || badges) lines.push(`${stamp ? `[${stamp.textContent}] ` : ""}${who}: ${text}${badges}`);
      }
    }
    return lines.join("\n") + (lines.length ? "\n" : "");
  }

  clear() {
    this.entries.clear();
    this.element.replaceChildren();
  }

  add(node) {
    const atEnd = this.atEnd();
    this.element.append(node);
    if (atEnd) this.element.scrollTop = this.element.scrollHeight;
  }

  atEnd() {
    const el = this.element;
    return el.scrollHeight - el.scrollTop - el.clientHeight < 48;
  }

  follow() {
    if (this.atEnd() || this.element.scrollHeight - this.element.scrollTop - this.element.clientHeight < 160) {
      this.element.scrollTop = this.element.scrollHeight;
    }
  }
}
