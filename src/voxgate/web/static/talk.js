// What the person does during a call: type a message, interrupt the assistant, hold to talk.
import { newEventId } from "./call.js";

// Audio said just before the release is still on its way to the server: commit a moment later.
const PTT_TAIL_MS = 250;
// Turn detection comes back once the answer is done (or after this long if none comes).
const RESTORE_FALLBACK_MS = 15000;
// A press whose loudest moment stayed under this (the meters' 0..1 scale, about -45 dBFS) heard nobody.
const HEARD_LEVEL = 0.25;

const randomId = () => {
  const bytes = crypto.getRandomValues(new Uint8Array(10));
  return "item_vg" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
};

export class Talk {
  /**
   * @param {object} deps session (Session), conversation (Conversation), transcript, history; listen()
   *   starts watching the microphone and returns a function telling its loudest level since (or null)
   */
  constructor({ session, conversation, transcript, history, listen = () => () => null }) {
    Object.assign(this, { session, conversation, transcript, history, listen });
    this.loudest = null; // the microphone's loudest level during the press in progress
    this.commitId = null; // the commit whose answer waits for the server's "committed"
    this.responseWanted = false; // a response.create waits for the cancelled response to finish
    this.holding = false;
    this.restoreTimer = null; // turn detection is off until the push-to-talk answer is done
  }

  /** A text message: conversation.item.create + response.create (after cutting off a reply in flight). */
  sendText(text) {
    text = text.trim();
    if (!text || !this.session.connected) return false;
    const item = { id: randomId(), type: "message", role: "user", content: [{ type: "input_text", text }] };
    this.transcript.set(item.id, "user", text);
    this.history.set(item.id, "user", text);
    this.session.send({ type: "conversation.item.create", item });
    this.requestResponse();
    return true;
  }

  /** response.create now, or once the response in flight has been cancelled and is done. */
  requestResponse() {
    if (this.conversation.responseActive) {
      this.responseWanted = true;
      this.interrupt();
    } else {
      this.session.send({ type: "response.create" });
    }
  }

  /** Called on every response.done. */
  responseDone() {
    if (this.responseWanted && this.session.connected) {
      this.responseWanted = false;
      this.session.send({ type: "response.create" });
    } else if (this.restoreTimer) {
      this.restoreTurnDetection();
    }
  }

  /** Stop the assistant: response.cancel if a response is in flight, then clear the audio not yet played. */
  interrupt() {
    const { responseActive, assistantSpeaking } = this.conversation;
    if (!this.session.connected || !(responseActive || assistantSpeaking)) return false;
    // Either may race the response's natural end; the error that would cause is expected, not shown.
    if (responseActive) this.quietly({ type: "response.cancel" });
    this.quietly({ type: "output_audio_buffer.clear" });
    return true;
  }

  quietly(event) {
    const eventId = newEventId("vg_quiet");
    this.conversation.ignoredErrors.add(eventId);
    this.session.send({ ...event, event_id: eventId });
  }

  /** Push-to-talk pressed: turn detection off, earlier input dropped, the mic on. */
  pttDown() {
    if (this.holding || !this.session.connected) return;
    this.holding = true;
    clearTimeout(this.restoreTimer);
    this.restoreTimer = null;
    this.interrupt();
    this.conversation.holdTurnDetection = true;
    this.session.send({
      type: "session.update",
      session: { type: "realtime", audio: { input: { turn_detection: null } } },
    });
    this.session.send({ type: "input_audio_buffer.clear" });
    this.session.setTalking(true);
    this.loudest = this.listen();
  }

  /**
   * Push-to-talk released: after a short tail the mic goes back to how it was, what was said is
   * committed and answered. Turn detection stays off until that answer is done, so neither the audio
   * still on its way nor the answer itself is taken for a new turn.
   */
  async pttUp() {
    if (!this.holding) return;
    this.holding = false;
    await new Promise((resolve) => setTimeout(resolve, PTT_TAIL_MS));
    if (this.holding) return; // pressed again meanwhile
    const level = this.loudest?.() ?? null;
    this.session.setTalking(false);
    if (!this.session.connected) {
      this.conversation.holdTurnDetection = false;
      return;
    }
    if (level !== null && level < HEARD_LEVEL) {
      // Nothing was said: no turn, and above all no answer (a response.create alone would answer the
      // previous turn again).
      this.transcript.note("note.nothingHeard");
      this.restoreTurnDetection();
      return;
    }
    // Answered once the server has the turn: a commit it refuses (too little audio) gets no answer.
    this.commitId = newEventId("vg_ptt");
    this.conversation.ignoredErrors.add(this.commitId);
    this.session.send({ type: "input_audio_buffer.commit", event_id: this.commitId });
    this.restoreTimer = setTimeout(() => this.restoreTurnDetection(), RESTORE_FALLBACK_MS);
  }

  /** Every server event: the outcome of a push-to-talk commit. */
  handle(event) {
    if (!this.commitId) return;
    if (event.type === "input_audio_buffer.committed") {
      this.commitId = null;
      this.requestResponse();
    } else if (event.type === "error" && event.error?.event_id === this.commitId) {
      this.commitId = null;
      this.transcript.note("note.nothingHeard");
      this.restoreTurnDetection();
    }
  }

  restoreTurnDetection() {
    clearTimeout(this.restoreTimer);
    this.restoreTimer = null;
    this.conversation.holdTurnDetection = false;
    if (this.holding || !this.session.connected) return;
    // Start afresh: what the buffer gathered while detection was off is not a turn.
    this.session.send({ type: "input_audio_buffer.clear" });
    this.session.send({
      type: "session.update",
      session: { type: "realtime", audio: { input: { turn_detection: this.conversation.turnDetection } } },
    });
  }
}
