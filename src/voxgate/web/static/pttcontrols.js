// Push-to-talk from the page: the button (pointer or keyboard) or Space anywhere outside a control.
// Held, a release sends the turn; as a mode, it toggles: a press starts the turn, the next press sends it.

// Where Space types or activates something else, it is not push-to-talk.
const typing = (target) => target?.closest?.("input, textarea, select, button, summary, a, [contenteditable]");

/**
 * @param {{button: HTMLElement, mode: HTMLSelectElement, talk: import("./talk.js").Talk,
 *   session: {connected: boolean}, onChange: () => void}} parts mode: "hold" or "toggle";
 *   onChange() after each press or release (to redraw)
 * @returns {{toggle: () => boolean}} whether push-to-talk is a toggle now
 */
export function pushToTalk({ button, mode, talk, session, onChange }) {
  const toggle = () => mode.value === "toggle";
  const down = () => {
    if (toggle() && talk.holding) return up(true);
    talk.pttDown();
    onChange();
  };
  const up = async (toggled = false) => {
    if (toggle() && toggled !== true) return; // a release ends nothing in toggle mode
    const released = talk.pttUp();
    onChange();
    await released;
  };
  const isKey = (event) => event.key === " " || event.key === "Enter";

  button.addEventListener("pointerdown", (event) => {
    button.setPointerCapture?.(event.pointerId);
    down();
  });
  for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) button.addEventListener(type, () => up());
  button.addEventListener("keydown", (event) => {
    if (!isKey(event)) return;
    event.preventDefault();
    if (!event.repeat) down();
  });
  button.addEventListener("keyup", (event) => {
    if (!isKey(event)) return;
    event.preventDefault();
    up();
  });
  button.addEventListener("click", (event) => event.preventDefault());
  document.addEventListener("keydown", (event) => {
    if (event.code !== "Space" || typing(event.target) || !session.connected) return;
    event.preventDefault();
    if (!event.repeat) down();
  });
  document.addEventListener("keyup", (event) => {
    if (event.code === "Space" && talk.holding && !typing(event.target)) up();
  });
  window.addEventListener("blur", () => talk.holding && up());
  return { toggle };
}
