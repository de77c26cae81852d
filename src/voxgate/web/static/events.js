// Server events → the page's state: transcript text for both sides, speaking indicators, whether a
// response is in flight, the session's settings, and the errors worth showing (GA names, reference §4).

export class Conversation {
  /**
   * @param {object} deps transcript (Transcript), history (History), onChange(conversation),
   *   onError(error object of an "error" event), onResponseDone(response)
   */
  constructor({ transcript, history, onChange, onError, onResponseDone }) {
    this.transcript = transcript;
    this.history = history;
    this.onChange = onChange || (() => {});
    this.onError = onError || (() => {});
    this.onResponseDone = onResponseDone || (() => {});
    this.session = null;
    this.turnDetection = null; // the session's own turn detection (push-to-talk restores it)
    this.holdTurnDetection = false; // while push-to-talk is held, session.updated shows it off
    this.ignoredErrors = new Set(); // event ids whose errors are expected (e.g. an interrupt racing the end)
    this.clearFlags();
  }

  clearFlags() {
    this.responseActive = false;
    this.responseId = null;
    this.userSpeaking = false;
    this.assistantSpeaking = false;
  }

  /** A new call: nothing is in flight or audible any more. The transcript and history stay. */
  reset() {
    this.clearFlags();
    this.onChange(this);
  }

  get transcriptionOn() {
    return Boolean(this.session?.audio?.input?.transcription);
  }

  handle(event) {
    const handler = HANDLERS[event.type];
    if (handler) {
      handler.call(this, event);
      this.onChange(this);
    }
  }

  userItem(item) {
    const part = (item.content || [])[0] || {};
    if (part.type === "input_text") {
      if (!this.transcript.has(item.id)) this.transcript.set(item.id, "user", part.text);
      this.history.set(item.id, "user", part.text);
    } else if (part.type === "input_audio") {
      if (part.transcript) {
        this.transcript.set(item.id, "user", part.transcript);
        this.history.set(item.id, "user", part.transcript);
      } else if (!this.transcript.textOf(item.id)) {
        this.transcript.pending(item.id, "user");
        if (!this.transcriptionOn) this.transcript.mark(item.id, "voice");
      }
    }
  }

  assistantItem(item) {
    if (item.type !== "message") return;
    const text = (item.content || []).map((part) => part.transcript ?? part.text ?? "").join("");
    if (this.transcript.has(item.id)) return; // e.g. our own replay
    if (text) {
      this.transcript.set(item.id, "assistant", text);
      this.history.set(item.id, "assistant", text);
    } else {
      this.transcript.pending(item.id, "assistant");
    }
  }

  finishResponse(response) {
    const interrupted = response.status === "cancelled" || response.status === "incomplete";
    for (const item of response.output || []) {
      if (item.type !== "message" || !this.transcript.has(item.id)) continue;
      const text = this.transcript.textOf(item.id);
      this.transcript.set(item.id, "assistant");
      if (interrupted) this.transcript.mark(item.id, "interrupted");
      if (response.status === "failed") this.transcript.mark(item.id, "failed");
      // What was said before an interruption is still context for the next session.
      if (text) this.history.set(item.id, "assistant", text);
    }
    if (response.status === "failed" && response.status_details?.error) this.onError(response.status_details.error);
  }
}

const HANDLERS = {
  "session.created"(event) {
    this.session = event.session;
    this.turnDetection = event.session?.audio?.input?.turn_detection ?? null;
  },
  "session.updated"(event) {
    this.session = event.session;
    if (!this.holdTurnDetection) this.turnDetection = event.session?.audio?.input?.turn_detection ?? null;
  },
  "input_audio_buffer.speech_started"(event) {
    this.userSpeaking = true;
    if (event.item_id) this.transcript.pending(event.item_id, "user");
  },
  "input_audio_buffer.speech_stopped"() {
    this.userSpeaking = false;
  },
  "input_audio_buffer.cleared"() {
    this.userSpeaking = false;
  },
  "conversation.item.added"(event) {
    const item = event.item || {};
    if (item.role === "user") this.userItem(item);
    else if (item.role === "assistant") this.assistantItem(item);
  },
  "conversation.item.input_audio_transcription.delta"(event) {
    this.transcript.append(event.item_id, "user", event.delta || "");
  },
  "conversation.item.input_audio_transcription.completed"(event) {
    if (!(event.transcript || "").trim()) {
      // A turn with no words in it (a cough, a click): no empty bubble, and nothing to keep.
      this.transcript.remove(event.item_id);
      this.history.remove(event.item_id);
      return;
    }
    this.transcript.set(event.item_id, "user", event.transcript);
    this.history.set(event.item_id, "user", event.transcript);
  },
  "conversation.item.input_audio_transcription.failed"(event) {
    this.transcript.mark(event.item_id, "untranscribed");
  },
  "conversation.item.deleted"(event) {
    this.transcript.remove(event.item_id);
    this.history.remove(event.item_id);
  },
  "response.created"(event) {
    this.responseActive = true;
    this.responseId = event.response?.id ?? null;
  },
  "response.output_item.added"(event) {
    if (event.item?.type === "message") this.transcript.pending(event.item.id, "assistant");
  },
  "response.output_audio_transcript.delta"(event) {
    this.transcript.append(event.item_id, "assistant", event.delta || "");
  },
  "response.output_text.delta"(event) {
    this.transcript.append(event.item_id, "assistant", event.delta || "");
  },
  "response.output_audio_transcript.done"(event) {
    this.transcript.set(event.item_id, "assistant", event.transcript);
    this.history.set(event.item_id, "assistant", event.transcript);
  },
  "response.output_text.done"(event) {
    this.transcript.set(event.item_id, "assistant", event.text);
    this.history.set(event.item_id, "assistant", event.text);
  },
  "response.done"(event) {
    const response = event.response || {};
    if (!this.responseId || response.id === this.responseId) {
      this.responseActive = false;
      this.responseId = null;
    }
    this.finishResponse(response);
    this.onResponseDone(response);
  },
  "output_audio_buffer.started"() {
    this.assistantSpeaking = true;
  },
  "output_audio_buffer.stopped"() {
    this.assistantSpeaking = false;
  },
  "output_audio_buffer.cleared"() {
    this.assistantSpeaking = false;
  },
  error(event) {
    const error = event.error || {};
    if (error.event_id && this.ignoredErrors.has(error.event_id)) return;
    this.onError(error);
  },
};
