// The conversation so far as text, in order, so that a new session (after a reconnect or a renewal)
// can be given it again and the assistant keeps the context. Audio is not kept: user speech is
// replayed as its transcript, assistant speech as the text of its transcript.

const REPLAY_LIMIT = 60; // the newest items only: older context matters less and costs tokens

export class History {
  constructor() {
    this.items = []; // {id, role: "user"|"assistant", text}
  }

  clear() {
    this.items = [];
  }

  /** Add or update the text of an item (kept in the order items first appeared). */
  set(id, role, text) {
    const existing = this.items.find((item) => item.id === id);
    if (existing) existing.text = text;
    else this.items.push({ id, role, text });
  }

  remove(id) {
    this.items = this.items.filter((item) => item.id !== id);
  }

  /** conversation.item.create events giving a new session the conversation so far (GA shapes). */
  replayEvents(limit = REPLAY_LIMIT) {
    return this.items
      .filter((item) => item.text && item.text.trim())
      .slice(-limit)
      .map((item) => ({
        type: "conversation.item.create",
        item: {
          // The same ids as before: the transcript already shows these items, so it will not add them twice.
          id: item.id,
          type: "message",
          role: item.role,
          content: [{ type: item.role === "user" ? "input_text" : "output_text", text: item.text }],
        },
      }));
  }
}
