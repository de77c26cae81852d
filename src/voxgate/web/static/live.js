// GPT-Live in the console (reference openai-gpt-live.md): the offer goes to voxgate's
// /api/live/sessions in OpenAI's JSON shape; the call is ready at session.started (the session is the
// server's: no session.update); both speakers' words come as transcript deltas with no done event;
// muting is an event. The model owns turn-taking, so there is nothing to commit and nothing to cancel.
import { api } from "./api.js";

export const LIVE = "live";
// A speaker is shown as speaking while their deltas keep coming (about every 200 ms).
const SPEAKING_MS = 800;

/** The overrides the Live policy lets a caller choose: the voice. */
export function liveOverrides({ voice }) {
  return voice ? { audio: { output: { voice } } } : {};
}

/**
 * POST the offer to voxgate, which creates the session upstream with the server's key; the answer
 * names voxgate's own call id. Errors are OpenAI-shaped ApiErrors.
 * @returns {Promise<{id: string, answer: string}>}
 */
export async function relayLive(sdp, model, overrides = {}) {
  const body = { session: { model, ...overrides }, transport: { type: "webrtc", sdp } };
  const created = await api("/api/live/sessions", { method: "POST", body });
  return { id: created.session.id, answer: created.transport.sdp };
}

/** The data-channel event for the mute switch (the only client events the policy lets the page send). */
export function muteEvent(muted) {
  return { type: muted ? "session.input_audio.mute" : "session.input_audio.unmute" };
}

/** Live server events → the transcript and the speaking indicators. */
export class LiveTranscript {
  /**
   * @param {object} deps transcript (Transcript), history (History), conversation (its userSpeaking and
   *   assistantSpeaking flags drive the indicators), onChange(), onClosed(reason), onNote(key, kind)
   */
  constructor({ transcript, history, conversation, onChange, onClosed, onNote }) {
    Object.assign(this, { transcript, history, conversation, onChange, onClosed, onNote });
    this.turn = null; // {id, role} of the entry the latest deltas went to
    this.timers = {};
  }

  /** A new call: the next words start a new entry. */
  reset() {
    this.finishTurn();
    for (const role of Object.keys(this.timers)) this.quiet(role);
  }

  handle(event) {
    const kind = event.type;
    if (kind === "session.input_transcript.delta") this.delta("user", event);
    else if (kind === "session.output_transcript.delta") this.delta("assistant", event);
    else if (kind === "session.paused") this.onNote?.("note.livePaused", "info");
    else if (kind === "session.closed") this.onClosed?.(event.reason);
    else return;
    this.onChange?.();
  }

  delta(role, event) {
    if (this.turn?.role !== role) {
      this.finishTurn();
      // Keyed like voxgate's ledger: the speaker and where the turn began on the session's timeline.
      this.turn = { id: `live_${role === "user" ? "in" : "out"}_${event.start_ms}`, role };
    }
    this.transcript.append(this.turn.id, role, event.delta || "");
    this.history.set(this.turn.id, role, this.transcript.textOf(this.turn.id));
    this.speaking(role);
  }

  finishTurn() {
    if (this.turn) this.transcript.set(this.turn.id, this.turn.role);
    this.turn = null;
  }

  speaking(role) {
    const flag = role === "user" ? "userSpeaking" : "assistantSpeaking";
    this.conversation[flag] = true;
    clearTimeout(this.timers[role]);
    this.timers[role] = setTimeout(() => this.quiet(role), SPEAKING_MS);
  }

  quiet(role) {
    clearTimeout(this.timers[role]);
    delete this.timers[role];
    this.conversation[role === "user" ? "userSpeaking" : "assistantSpeaking"] = false;
    this.onChange?.();
  }
}
