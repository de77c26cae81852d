// The raw event log for developers: every event sent (→) and received (←), newest last, in a drawer.
// Events are kept in memory (bounded) and only drawn while the drawer is open.

const MAX_EVENTS = 1000;

export class EventLog {
  constructor(list) {
    this.list = list;
    this.events = []; // {dir: "in"|"out", time, event}
    this.visible = false;
    this.t0 = performance.now();
  }

  add(dir, event) {
    const entry = { dir, time: performance.now() - this.t0, event };
    this.events.push(entry);
    if (this.events.length > MAX_EVENTS) {
      this.events.shift();
      if (this.visible) this.list.firstElementChild?.remove();
    }
    if (this.visible) this.draw(entry);
  }

  clear() {
    this.events = [];
    this.list.replaceChildren();
  }

  show(visible) {
    this.visible = visible;
    this.list.replaceChildren();
    if (visible) for (const entry of this.events) this.draw(entry);
  }

  draw({ dir, time, event }) {
    const item = document.createElement("li");
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
