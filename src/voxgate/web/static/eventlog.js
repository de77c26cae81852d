// The raw event log for developers: every event sent (→) and received (←), newest last, in a drawer.
// Events are kept in memory (bounded) and only drawn while the drawer is open. Filters narrow what is
// drawn: a direction, one event type (the list grows with the types seen) and a search of the JSON.

const MAX_EVENTS = 1000;
const $ = (id) => document.getElementById(id);

export class EventLog {
  /**
   * @param {HTMLElement} list the <ol> drawn into
   * @param {{search?: HTMLInputElement, dir?: HTMLSelectElement, type?: HTMLSelectElement}} filters
   */
  constructor(list, { search = $("log-search"), dir = $("log-dir"), type = $("log-type") } = {}) {
    this.list = list;
    this.filters = { search, dir, type };
    this.events = []; // {dir: "in"|"out", time, event, text?}
    this.types = new Set();
    this.visible = false;
    this.t0 = performance.now();
    for (const control of [search, dir, type]) control?.addEventListener("input", () => this.show(this.visible));
  }

  add(dir, event) {
    const entry = { dir, time: performance.now() - this.t0, event };
    this.events.push(entry);
    if (this.events.length > MAX_EVENTS) {
      const dropped = this.events.shift();
      if (this.visible && this.list.firstElementChild?.entry === dropped) this.list.firstElementChild.remove();
    }
    this.noteType(event.type || "");
    if (this.visible && this.matches(entry)) this.draw(entry);
  }

  // The type filter offers every type seen so far, in alphabetical order.
  noteType(type) {
    const select = this.filters.type;
    if (!type || this.types.has(type) || !select) return;
    this.types.add(type);
    const option = new Option(type, type);
    const after = [...select.options].slice(1).find((o) => o.value > type);
    select.insertBefore(option, after || null);
  }

  matches(entry) {
    const { search, dir, type } = this.filters;
    if (dir?.value && entry.dir !== dir.value) return false;
    if (type?.value && entry.event.type !== type.value) return false;
    const wanted = search?.value.trim().toLowerCase();
    if (!wanted) return true;
    entry.text ??= JSON.stringify(entry.event).toLowerCase(); // built once, and only when searched
    return entry.text.includes(wanted);
  }

  clear() {
    this.events = [];
    this.list.replaceChildren();
  }

  show(visible) {
    this.visible = visible;
    this.list.replaceChildren();
    if (visible) for (const entry of this.events) if (this.matches(entry)) this.draw(entry);
  }

  draw(entry) {
    const { dir, time, event } = entry;
    const item = document.createElement("li");
    item.entry = entry;
    item.dataset.dir = dir;
    item.dataset.type = event.type || "";
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    summary.textContent = `${(time / 1000).toFixed(2).padStart(7)} ${dir === "out" ? "→" : "←"} ${event.type}`;
    details.append(summary);
    // The JSON is built only when someone opens the entry.
    details.addEventListener(
      "toggle",
      () => {
        const pre = document.createElement("pre");
        pre.textContent = JSON.stringify(event, null, 2);
        details.append(pre);
      },
      { once: true },
    );
    item.append(details);
    const stick = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
    this.list.append(item);
    if (stick) this.list.scrollTop = this.list.scrollHeight;
  }
}
