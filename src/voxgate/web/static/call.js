// One call to the realtime service over WebRTC (reference §2.1): the peer connection and the
// "oai-events" data channel are created before the offer, the offer is POSTed (to voxgate's relay, or
// with an ephemeral secret to the calls URL), and once the channel opens a GA session.update is sent.
// The token (ephemeral mode only), the microphone and the offer run in parallel; every step is timed
// from the click that started the call.

export const CHANNEL = "oai-events";
export const STEPS = ["token", "mic", "offer", "sdp", "channel", "session"];
const DISCONNECT_GRACE_MS = 3000; // "disconnected" often recovers by itself; "failed" never does
const SESSION_UPDATED_WAIT_MS = 5000; // as the Agents SDK: then go on without the confirmation
const MIC_WAIT_MS = 60; // the longest the microphone waits for the answer once the offer is out
// The events that carry the session as the server has it (GA Realtime; GPT-Live's session.started).
const SESSION_EVENTS = new Set(["session.created", "session.updated", "session.started"]);

export class CallError extends Error {
  /** code: ice_failed | timeout | token_rejected | rate_limited | budget | upstream_down | sdp_rejected */
  constructor(code, message, { status = 0, retryAfter = null, errorCode = null } = {}) {
    super(message || code);
    this.name = "CallError";
    this.code = code;
    this.status = status;
    this.retryAfter = retryAfter;
    this.errorCode = errorCode; // the server's error.code, if it sent one
  }
}

let eventCounter = 0;
export const newEventId = (prefix = "vg") =>
  `${prefix}_${Date.now().toString(36)}${(eventCounter++).toString(36)}`;

// Error codes meaning the money is used up (voxgate's budgets, or the OpenAI account's quota): waiting
// a few seconds will not help.
export const BUDGET_CODES = new Set([
  "budget_exhausted",
  "budget_exceeded",
  "insufficient_quota",
  "quota_exceeded",
  "upstream_quota_exhausted",
]);

async function sdpError(response) {
  const text = await response.text().catch(() => "");
  let error = {};
  try {
    error = JSON.parse(text).error || {};
  } catch {
    /* not JSON */
  }
  const retry = Number(response.headers.get("Retry-After"));
  const options = { status: response.status, retryAfter: retry > 0 ? retry : null, errorCode: error.code || null };
  const message = error.message || `HTTP ${response.status}`;
  if (response.status === 402 || BUDGET_CODES.has(error.code)) return new CallError("budget", message, options);
  if (response.status === 401) return new CallError("token_rejected", message, options);
  if (response.status === 429) return new CallError("rate_limited", message, options);
  if (response.status >= 500) return new CallError("upstream_down", message, options);
  return new CallError("sdp_rejected", message, options);
}

/** Ephemeral mode: POST the offer to the calls URL with the client secret (reference §2.1). */
async function postSdp(secret, sdp) {
  let response;
  try {
    response = await fetch(secret.calls_url, {
      method: "POST",
      body: sdp,
      headers: { Authorization: `Bearer ${secret.value}`, "Content-Type": "application/sdp" },
    });
  } catch (error) {
    throw new CallError("upstream_down", error.message);
  }
  if (!response.ok) throw await sdpError(response);
  // The call id ends the Location header's path (e.g. /v1/realtime/calls/rtc_…).
  const id = (response.headers.get("Location") || "").split("/").pop() || null;
  return { id, answer: await response.text() };
}

export class Call {
  /**
   * @param {object} hooks onEvent(event, call), onSent(event, call), onEnded(reason, call),
   *   onStep(name, state, ms), onRemoteStream(stream, call)
   */
  constructor(hooks) {
    this.hooks = hooks;
    this.t0 = performance.now(); // when the connect began: the click, or the start of a reconnect
    this.preparedAt = null;
    this.offer = null;
    this.id = null; // the call id from the Location header
    this.session = null; // the latest session.created/updated
    this.steps = {};
    this.ended = false;
    this.connected = false;
    this.aborted = false; // connect failed: steps still running are no longer shown
    this.pc = null;
    this.channel = null;
    this.sender = null;
    this.waiters = new Set();
    this.failConnect = null;
    this.graceTimer = null;
  }

  get expiresAt() {
    return this.session?.expires_at || null;
  }

  /** Milliseconds per step and from the click to each step's end, for the metrics report. */
  timings() {
    const report = {};
    for (const [name, { start, end }] of Object.entries(this.steps)) {
      if (end === undefined) continue;
      report[`${name}_ms`] = Math.round((end - start) * 10) / 10;
      report[`${name}_end_ms`] = Math.round(end * 10) / 10;
    }
    const last = Math.max(0, ...Object.values(this.steps).map((s) => s.end || 0));
    if (last) report.total_ms = Math.round(last * 10) / 10;
    return report;
  }

  async time(name, promise) {
    const start = Math.max(0, performance.now() - this.t0);
    this.steps[name] = { start };
    this.hooks.onStep?.(name, "active");
    try {
      const result = await promise;
      const end = performance.now() - this.t0;
      this.steps[name].end = end;
      if (!this.aborted) this.hooks.onStep?.(name, "done", end - start);
      return result;
    } catch (error) {
      if (!this.aborted) this.hooks.onStep?.(name, "failed");
      this.steps[name].failed = true;
      throw error;
    }
  }

  /**
   * The peer connection, with the channel and the audio transceiver, and its offer: made before the
   * offer (reference §2.1) and, as it needs no network, possibly well before the click. The
   * microphone's track joins later by replaceTrack, which needs no renegotiation. The offer POSTed is
   * the local description as it is at that moment: prepared ahead, it lists the candidates gathered
   * meanwhile, so the answerer can check them at once instead of waiting for the browser's checks.
   */
  prepare() {
    if (this.offer) return this.offer;
    this.preparedAt = performance.now();
    const pc = (this.pc = new RTCPeerConnection());
    const channel = (this.channel = pc.createDataChannel(CHANNEL));
    this.sender = pc.addTransceiver("audio", { direction: "sendrecv" }).sender;
    pc.addEventListener("track", (event) => {
      this.hooks.onRemoteStream?.(event.streams[0] || new MediaStream([event.track]), this);
    });
    channel.addEventListener("message", (event) => this.receive(event.data));
    channel.addEventListener("close", () => this.end("channel_closed"));
    pc.addEventListener("connectionstatechange", () => this.watch());
    this.opened = new Promise((resolve) => channel.addEventListener("open", resolve, { once: true }));
    this.offer = (async () => {
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
    })();
    this.offer.catch(() => {}); // reported by connect()
    return this.offer;
  }

  /**
   * Dial: resolves once the session is configured and the microphone is on the call.
   * @param {number} t0 performance.now() of the click (or of the start of a reconnect)
   * @param {Promise<object>|null} token ephemeral mode: the client secret ({value, calls_url, session})
   * @param {((sdp: string) => Promise<{id, answer}>)|null} relay relay mode: posts the offer to voxgate
   * @param {() => Promise<MediaStreamTrack>} track opens (or gives) the microphone's track
   * @param {(session: object|null) => object|null} sessionUpdate the session.update to send on open, from
   *   the session as minted (ephemeral) or as created (relay); null sends none (GPT-Live: the session is
   *   the server's, and the call is ready at session.started)
   * @param {number} sessionWaitMs how long a relayed call waits for its session event before going on
   */
  async connect({
    t0 = performance.now(),
    token = null,
    relay = null,
    track,
    sessionUpdate,
    timeoutMs = 20000,
    sessionWaitMs = SESSION_UPDATED_WAIT_MS,
  }) {
    this.t0 = t0;
    const offerReady = this.time(
      "offer",
      this.prepare().then(() => this.pc.localDescription.sdp),
    );
    const opened = this.opened;
    const failed = new Promise((_, reject) => {
      this.failConnect = reject;
    });
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new CallError("timeout", "The connection took too long.")), timeoutMs);
    });

    // Relay mode has no token step: the page never holds a secret.
    const tokenReady = relay ? Promise.resolve(null) : this.time("token", token);
    const micAsked = new Promise((resolve) => {
      this.askMic = resolve; // by postOffer
    });
    const micReady = micAsked.then(() =>
      this.time(
        "mic",
        track().then(async (micTrack) => {
          if (!this.ended) await this.sender.replaceTrack(micTrack);
          return micTrack;
        }),
      ),
    );
    const sessionReady = (async () => {
      const [secret, sdp] = await Promise.all([tokenReady, offerReady]);
      await this.time("sdp", this.postOffer(relay ? () => relay(sdp) : () => postSdp(secret, sdp)));
      await this.time("channel", opened);
      // The relayed session was built by voxgate: its transcription model is learnt from session.created.
      const session = relay ? this.sessionCreated(sessionWaitMs) : Promise.resolve(secret.session);
      await this.time(
        "session",
        session.then((created) => {
          const update = sessionUpdate(created);
          return update ? this.updateSession(update) : created;
        }),
      );
    })();
    try {
      await Promise.race([Promise.all([sessionReady, micReady]), failed, timeout]);
    } catch (error) {
      this.close();
      // Steps still under way will not finish: show them as not done rather than in progress, except
      // the connection itself when that is what failed.
      this.aborted = true;
      const connectionFailed = error instanceof CallError && ["ice_failed", "timeout"].includes(error.code);
      for (const [name, step] of Object.entries(this.steps)) {
        if (step.end !== undefined || step.failed) continue;
        this.hooks.onStep?.(name, connectionFailed && name === "channel" ? "failed" : "pending");
      }
      throw error;
    } finally {
      clearTimeout(timer);
      this.failConnect = null;
    }
    this.connected = true;
  }

  /** Post the offer (`send` resolves to {id, answer}) and apply the answer. */
  async postOffer(send) {
    const posted = send();
    // The microphone is asked for in parallel: once the answer is applied, or MIC_WAIT_MS after the
    // offer went out if that takes longer. Opening it is heavy work for the machine while the answer
    // is being made (a local engine shares this machine), and a call refused before that (no token,
    // rate limit, budget) never turns the microphone on.
    this.micTimer = setTimeout(() => !this.ended && this.askMic?.(), MIC_WAIT_MS);
    const { id, answer } = await posted;
    this.id = id;
    if (this.ended) throw new CallError("timeout", "The call was closed while connecting.");
    await this.pc.setRemoteDescription({ type: "answer", sdp: answer });
    clearTimeout(this.micTimer);
    this.askMic?.();
  }

  /** The session as the server created it (session.created, GPT-Live's session.started), or null after waitMs. */
  sessionCreated(waitMs = SESSION_UPDATED_WAIT_MS) {
    if (this.session) return Promise.resolve(this.session);
    return new Promise((resolve) => {
      const waiter = (incoming) => {
        if (SESSION_EVENTS.has(incoming.type)) finish(incoming.session);
      };
      const finish = (session) => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        resolve(session);
      };
      const timer = setTimeout(() => finish(null), waitMs);
      this.waiters.add(waiter);
    });
  }

  /** Send session.update and wait for session.updated (or an error about it, or 5 s). */
  updateSession(event) {
    const eventId = newEventId("vg_session");
    return new Promise((resolve) => {
      const waiter = (incoming) => {
        const done =
          incoming.type === "session.updated" ||
          (incoming.type === "error" && incoming.error?.event_id === eventId);
        if (done) finish();
      };
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        resolve();
      };
      const timer = setTimeout(finish, SESSION_UPDATED_WAIT_MS);
      this.waiters.add(waiter);
      this.send({ ...event, event_id: eventId });
    });
  }

  receive(data) {
    let event;
    try {
      event = JSON.parse(data);
    } catch {
      return; // not an event
    }
    if (SESSION_EVENTS.has(event.type)) this.session = event.session;
    for (const waiter of [...this.waiters]) waiter(event);
    this.hooks.onEvent?.(event, this);
  }

  /** Send a client event; false when the channel is not open. */
  send(event) {
    if (this.channel?.readyState !== "open") return false;
    if (!event.event_id) event = { ...event, event_id: newEventId() };
    this.channel.send(JSON.stringify(event));
    this.hooks.onSent?.(event, this);
    return true;
  }

  watch() {
    const state = this.pc?.connectionState;
    if (state === "failed") {
      this.end("ice_failed");
    } else if (state === "disconnected") {
      clearTimeout(this.graceTimer);
      this.graceTimer = setTimeout(() => {
        if (this.pc?.connectionState !== "connected") this.end("disconnected");
      }, DISCONNECT_GRACE_MS);
    } else if (state === "connected") {
      clearTimeout(this.graceTimer);
    }
  }

  /** The call broke (not closed by us): fail a connect in progress, or tell the owner. */
  end(reason) {
    if (this.ended) return;
    if (this.failConnect) {
      const code = reason === "channel_closed" ? "upstream_down" : "ice_failed";
      this.failConnect(new CallError(code, `The connection ended while connecting (${reason}).`));
      return; // connect() closes the call
    }
    this.close();
    this.hooks.onEnded?.(reason, this);
  }

  /** Close the channel and the peer connection. The microphone track belongs to the caller. Idempotent. */
  close() {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.graceTimer);
    clearTimeout(this.micTimer);
    this.waiters.clear();
    try {
      this.channel?.close();
    } finally {
      this.pc?.close();
    }
  }
}
