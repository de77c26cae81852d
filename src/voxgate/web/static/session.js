// The life of a voice session across calls: connect, reconnect with exponential backoff and jitter
// when a call breaks, renew before the 60-minute cap (a new call first, then the old one ends), and
// clean up on stop. The conversation's text is replayed into each new call so the assistant keeps
// its context. The microphone belongs to the session and is shared by its calls.
import { ApiError, serverNow } from "./api.js";
import { BUDGET_CODES, Call, CallError } from "./call.js";
import { LIVE, liveOverrides } from "./live.js";
import { MicError, openMic, stopStream } from "./mic.js";

const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 15000;
const MAX_RECONNECTS = 8;
const IDLE_WAIT_STEP_MS = 500;
const HANGUP_WAIT_MS = 2000; // then close the call anyway
// A peer connection prepared ahead of the click is used if younger than this (networks change).
const SPARE_MAX_AGE_MS = 5 * 60 * 1000;

/** Delay before reconnect attempt n (1-based): exponential, capped, "equal jitter" (half fixed, half random). */
export function backoffMs(attempt, random = Math.random) {
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1));
  return ceiling / 2 + random() * (ceiling / 2);
}

/**
 * The GA session.update sent when a call's channel opens: only what the user may choose (the voice, and
 * the transcription language or automatic). The transcription model is the session's own (as minted,
 * or as created by voxgate's relay).
 */
export function sessionUpdate(minted, { voice, language, instructions }) {
  const session = { type: "realtime" };
  if (instructions) session.instructions = instructions;
  const audio = {};
  if (voice) audio.output = { voice };
  const transcription = minted?.audio?.input?.transcription;
  if (transcription?.model) {
    const chosen = { model: transcription.model };
    if (transcription.prompt) chosen.prompt = transcription.prompt;
    if (language && language !== "auto") chosen.language = language;
    audio.input = { transcription: chosen };
  }
  if (Object.keys(audio).length) session.audio = audio;
  return { type: "session.update", session };
}

/**
 * Relay mode: the overrides posted with the offer (the same choices as the session.update, which the
 * policy lets a client make): the voice if one is chosen, the transcription language unless automatic,
 * the caller's own instructions when the policy allows them and some are given.
 */
export function relayOverrides({ voice, language, instructions }) {
  const audio = {};
  if (voice) audio.output = { voice };
  if (language && language !== "auto") audio.input = { transcription: { language } };
  const overrides = Object.keys(audio).length ? { audio } : {};
  if (instructions) overrides.instructions = instructions;
  return overrides;
}

/** An error that another attempt will not fix. */
function fatal(error) {
  if (error instanceof MicError) return true;
  if (error instanceof ApiError) return [400, 401, 402, 403, 404].includes(error.status) || BUDGET_CODES.has(error.code);
  if (error instanceof CallError) return ["budget", "sdp_rejected"].includes(error.code);
  return false;
}

/** A short code for the metrics report. */
export function outcomeOf(error) {
  if (error instanceof MicError || error instanceof CallError) return error.code;
  if (error instanceof ApiError) {
    if (error.status === 401) return "not_signed_in";
    if (error.status === 429) return "rate_limited";
    if (error.status === 0 || error.status >= 500) return "upstream_down";
    return "token_failed";
  }
  return "error";
}

export class Session {
  /**
   * @param {object} deps
   *   tokens: TokenSource; history: History; choices(): {voice, language, deviceId};
   *   busy(): true while a reply is playing or the user is talking (renewal waits for a pause);
   *   report(body, {keepalive}), hangup(callId, {keepalive}), relay(sdp, session): voxgate's API;
   *   mode(): "relay" (the offer goes through voxgate; no token) or "ephemeral" (tokens' secrets);
   *   protocol(): "realtime" or "live" (GPT-Live: always through voxgate's relay, no session.update);
   *   hooks: onState(state, detail), onStep(name, state, ms), onEvent(event, call), onSent(event, call),
   *     onRemoteStream(stream), onMicStream(stream|null), onNote(key, kind), onError(error), onCall(call|null)
   *   renewBeforeS: renew this long before the session's maximum duration ends
   */
  constructor({ tokens, history, choices, busy, report, hangup, relay, mode, protocol, hooks, renewBeforeS = 300 }) {
    Object.assign(this, { tokens, history, choices, busy, report, hangup, relay, mode, hooks, renewBeforeS });
    this.protocol = protocol || (() => "realtime");
    this.state = "idle";
    this.call = null; // the call in use
    this.dialing = new Set(); // calls being set up (a renewal's new call while the old one is in use)
    this.micStream = null;
    this.micPromise = null;
    this.muted = false;
    this.talking = false; // push-to-talk held: the mic is on even if muted
    this.generation = 0;
    this.stopped = true;
    this.reconnecting = false;
    this.renewTimer = null;
    this.wakers = new Set();
    this.reports = new Map(); // call id → the promise of its connect report (hangup waits for it)
    this.remoteStreams = new WeakMap();
    this.spare = null; // a call prepared ahead (peer connection, channel and offer; no network yet)
    this.disposed = false;
  }

  get connected() {
    return this.state === "connected" && Boolean(this.call);
  }

  setState(state, detail = {}) {
    this.state = state;
    this.hooks.onState?.(state, detail);
  }

  /** Send a client event on the call in use; false if there is none. */
  send(event) {
    return this.call ? this.call.send(event) : false;
  }

  // ---- connect / stop ----------------------------------------------------------------------------

  /**
   * Connect (from a click at `t0`, on performance.now()'s clock): the token, the microphone and the
   * offer in parallel. Throws on failure.
   */
  async start(t0 = performance.now()) {
    if (this.state !== "idle") return;
    const generation = ++this.generation;
    this.stopped = false;
    this.disposed = false;
    this.history.clear();
    this.setState("connecting");
    // Opened at the call's request (see Call.connect: in parallel, once the offer is out), then
    // shared by every call of this session.
    const deviceId = this.choices().deviceId;
    this.openMicOnce = () => {
      if (generation !== this.generation) return Promise.reject(new MicError("mic_unavailable"));
      this.micPromise ??= openMic(deviceId).then((stream) => {
        if (generation !== this.generation || this.stopped) {
          stopStream(stream);
          throw new MicError("mic_unavailable");
        }
        this.useMic(stream);
        return stream;
      });
      return this.micPromise;
    };
    try {
      this.adopt(await this.dial("connect", 0, t0));
    } catch (error) {
      if (generation !== this.generation) return; // stopped while connecting: not an error
      await this.stop("connect_failed");
      throw error;
    }
  }

  callHooks() {
    return {
      onEvent: (event, call) => this.onCallEvent(event, call),
      onSent: (event, call) => this.hooks.onSent?.(event, call),
      onEnded: (reason, call) => this.onCallEnded(reason, call),
      onStep: (name, state, ms) => this.hooks.onStep?.(name, state, ms),
      onRemoteStream: (stream, call) => {
        this.remoteStreams.set(call, stream);
        if (call === this.call) this.hooks.onRemoteStream?.(stream);
      },
    };
  }

  /**
   * Prepare the next call's peer connection and offer now, while nothing else happens (after sign-in,
   * after a call is set up, after a stop), so that connecting skips that step.
   */
  prepare({ revive = false } = {}) {
    if (revive) this.disposed = false;
    if (this.disposed) return; // signed out or leaving: nothing is prepared any more
    const fresh = this.spare && !this.spare.ended && performance.now() - this.spare.preparedAt < SPARE_MAX_AGE_MS;
    if (fresh) return;
    this.spare?.close();
    this.spare = new Call(this.callHooks());
    this.spare.prepare();
  }

  takeSpare() {
    const spare = this.spare;
    this.spare = null;
    if (spare && !spare.ended && performance.now() - spare.preparedAt < SPARE_MAX_AGE_MS) return spare;
    spare?.close();
    return new Call(this.callHooks());
  }

  /** Close the prepared call too (sign-out, page hide). */
  async dispose(reason, options) {
    this.disposed = true;
    this.spare?.close();
    this.spare = null;
    await this.stop(reason, options);
  }

  async dial(kind, attempt, t0 = performance.now()) {
    const call = this.takeSpare();
    this.dialing.add(call);
    const track = () => this.openMicOnce().then((stream) => stream.getAudioTracks()[0]);
    try {
      // Relay mode never asks for a secret: voxgate creates the call with the server's key. GPT-Live has
      // no secrets at all: it is always relayed, and its session is the server's (no session.update).
      const live = this.protocol() === LIVE;
      const relayed = live || this.mode() === "relay";
      const overrides = live ? liveOverrides : relayOverrides;
      await call.connect({
        t0,
        token: relayed ? null : this.tokens.get(),
        relay: relayed ? (sdp) => this.relay(sdp, overrides(this.choices())) : null,
        track,
        sessionUpdate: (session) => (live ? null : sessionUpdate(session, this.choices())),
        sessionWaitMs: live ? 20000 : undefined,
      });
      if (this.stopped) throw new CallError("timeout", "Stopped while connecting.");
    } catch (error) {
      call.close();
      this.sendReport(kind, call, attempt, error);
      if (call.id) this.retire(call, "connect_failed");
      throw error;
    } finally {
      this.dialing.delete(call);
    }
    // The conversation so far, so the assistant keeps its context (empty on a first connect). A Live
    // session's context is fixed at its start, and its data channel takes no such events.
    if (this.protocol() !== LIVE) for (const event of this.history.replayEvents()) call.send(event);
    this.sendReport(kind, call, attempt, null);
    return call;
  }

  adopt(call) {
    this.call = call;
    this.hooks.onCall?.(call);
    const stream = this.remoteStreams.get(call);
    if (stream) this.hooks.onRemoteStream?.(stream);
    this.scheduleRenewal(call);
    this.setState("connected", { callId: call.id });
    setTimeout(() => this.prepare(), 1000); // ready for a reconnect or the renewal
  }

  /** Stop: close the calls, stop every track, tell voxgate the call ended. Safe to call repeatedly. */
  async stop(reason = "user", { keepalive = false } = {}) {
    const wasActive = !this.stopped || this.micStream || this.call;
    this.stopped = true;
    this.generation++;
    clearTimeout(this.renewTimer);
    this.wake();
    for (const call of this.dialing) call.close();
    this.dialing.clear();
    const call = this.call;
    this.call = null;
    let ended = Promise.resolve();
    if (call) {
      this.hooks.onCall?.(null);
      ended = this.retire(call, reason, { keepalive });
    }
    this.useMic(null);
    this.micPromise = null;
    this.talking = false;
    if (wasActive) this.setState("idle", { reason });
    await ended;
    this.prepare();
  }

  /**
   * End a call: tell voxgate first (once the connect report that lets it do so has landed), then close
   * the peer connection, so the upstream sees a hangup rather than a vanished peer. On page hide there
   * is no time for that: close at once and send the hangup with keepalive.
   */
  retire(call, outcome, { keepalive = false } = {}) {
    if (!call.id || keepalive) call.close();
    if (!call.id) return Promise.resolve();
    const reported = this.reports.get(call.id) || Promise.resolve();
    this.reports.delete(call.id);
    const report = {
      event: "end",
      outcome: String(outcome).toLowerCase().replace(/[^a-z0-9_]/g, "_").slice(0, 32) || "ok",
      steps: call.connectedAt ? { duration_ms: Math.round(performance.now() - call.connectedAt) } : {},
    };
    if (this.reportsCallId()) report.call_id = call.id;
    const hangup = () =>
      Promise.race([this.hangup(call.id, { keepalive }), new Promise((resolve) => setTimeout(resolve, HANGUP_WAIT_MS))]);
    return reported
      .then(() => Promise.allSettled([call.connectedAt ? this.report(report, { keepalive }) : null, hangup()]))
      .finally(() => call.close());
  }

  /**
   * Reports name the call in ephemeral mode only: that is how voxgate learns of a call it did not
   * create (and the upstream's id is what it expects there). A relayed call is voxgate's own already.
   */
  reportsCallId() {
    return this.mode() !== "relay" && this.protocol() !== LIVE;
  }

  sendReport(kind, call, attempt, error) {
    const body = { event: kind, outcome: error ? outcomeOf(error) : "ok", attempt, steps: call.timings() };
    if (call.id && this.reportsCallId()) body.call_id = call.id;
    if (error) body.error_code = String(error.errorCode || error.code || error.name || "error").slice(0, 64);
    if (!error) call.connectedAt = performance.now();
    const sent = Promise.resolve(this.report(body)).catch(() => {});
    if (call.id) this.reports.set(call.id, sent);
    this.hooks.onReport?.(body);
  }

  // ---- the microphone ----------------------------------------------------------------------------

  useMic(stream) {
    const old = this.micStream;
    this.micStream = stream;
    if (old && old !== stream) stopStream(old);
    const track = stream?.getAudioTracks()[0];
    if (track) {
      track.addEventListener("ended", () => {
        // Unplugged or revoked: go back to the default microphone if the session is still on.
        if (this.micStream === stream && !this.stopped) this.switchMic("").catch((e) => this.hooks.onError?.(e));
      });
    }
    this.applyMute();
    this.hooks.onMicStream?.(stream);
  }

  applyMute() {
    for (const track of this.micStream?.getAudioTracks() || []) track.enabled = !this.muted || this.talking;
  }

  setMuted(muted) {
    this.muted = muted;
    this.applyMute();
  }

  /** Push-to-talk held or released: the mic is on while held, whatever the mute switch says. */
  setTalking(talking) {
    this.talking = talking;
    this.applyMute();
  }

  /** Use another microphone; in a call the new track replaces the old one without renegotiation. */
  async switchMic(deviceId) {
    if (!this.micStream || this.stopped) return;
    const generation = this.generation;
    const stream = await openMic(deviceId);
    if (generation !== this.generation || this.stopped) {
      stopStream(stream);
      return;
    }
    const track = stream.getAudioTracks()[0];
    const calls = [this.call, ...this.dialing].filter(Boolean);
    await Promise.all(calls.map((call) => call.sender?.replaceTrack(track)));
    this.micPromise = Promise.resolve(stream);
    this.useMic(stream);
  }

  // ---- events, breakage and reconnection ---------------------------------------------------------

  onCallEvent(event, call) {
    if (call !== this.call && !this.dialing.has(call)) return;
    this.hooks.onEvent?.(event, call);
    if (call === this.call && event.type === "error" && event.error?.code === "session_expired") {
      // The renewal did not happen in time: treat it as a drop.
      this.onCallEnded("session_expired", call);
    }
  }

  onCallEnded(reason, call) {
    if (call !== this.call || this.stopped) return;
    this.call = null;
    this.hooks.onCall?.(null);
    this.retire(call, reason);
    this.reconnectUnlessFinal(reason, call);
  }

  /** Reconnect, unless voxgate itself ended the call (a budget, the maximum length, a revocation). */
  async reconnectUnlessFinal(reason, call) {
    const final = await this.hooks.finalEnd?.(call);
    if (!final) return this.reconnect(reason);
    if (!this.stopped) await this.stop(final);
  }

  sleep(ms) {
    return new Promise((resolve) => {
      const waker = () => {
        clearTimeout(timer);
        this.wakers.delete(waker);
        resolve();
      };
      const timer = setTimeout(waker, ms);
      this.wakers.add(waker);
    });
  }

  wake() {
    for (const waker of [...this.wakers]) waker();
  }

  async reconnect(reason) {
    if (this.reconnecting || this.stopped) return;
    this.reconnecting = true;
    const generation = this.generation;
    this.setState("reconnecting", { reason });
    this.hooks.onNote?.("note.reconnecting", "warn");
    let lastError = null;
    try {
      for (let attempt = 1; attempt <= MAX_RECONNECTS; attempt++) {
        await this.sleep(backoffMs(attempt));
        if (this.stopped || generation !== this.generation) return;
        try {
          const call = await this.dial("reconnect", attempt);
          if (this.stopped || generation !== this.generation) return;
          this.adopt(call);
          this.hooks.onNote?.("note.resumed", "ok");
          return;
        } catch (error) {
          if (this.stopped || generation !== this.generation) return;
          lastError = error;
          if (fatal(error)) break;
          if (error instanceof CallError && error.code === "token_rejected") this.tokens.token = null;
          if (error.retryAfter) await this.sleep(error.retryAfter * 1000);
        }
      }
      this.hooks.onError?.(lastError && fatal(lastError) ? lastError : new CallError("gave_up", reason));
      await this.stop("reconnect_failed");
    } finally {
      this.reconnecting = false;
    }
  }

  // ---- renewal before the maximum session duration -----------------------------------------------

  scheduleRenewal(call) {
    clearTimeout(this.renewTimer);
    const expiresAt = call.expiresAt;
    if (!expiresAt) return;
    const leftMs = expiresAt * 1000 - serverNow();
    // Never sooner than half-way through, so a renewal margin longer than the session cannot loop.
    const inMs = Math.max(leftMs - this.renewBeforeS * 1000, leftMs / 2);
    this.renewTimer = setTimeout(() => this.renew(call), inMs);
  }

  async renew(old) {
    if (old !== this.call || this.stopped || this.reconnecting) return;
    const deadline = old.expiresAt * 1000 - 5000;
    // Wait for a pause in the conversation, but not past the deadline.
    while (this.busy() && serverNow() < deadline && old === this.call && !this.stopped) {
      await this.sleep(IDLE_WAIT_STEP_MS);
    }
    if (old !== this.call || this.stopped) return;
    try {
      const call = await this.dial("renew", 0);
      if (old !== this.call || this.stopped) {
        this.retire(call, "superseded");
        return;
      }
      this.adopt(call);
      this.retire(old, "renewed");
      this.hooks.onNote?.("note.renewed", "ok");
    } catch {
      // Keep the old call; try again a little later while there is time, else the expiry reconnects.
      if (old === this.call && serverNow() < deadline - 10000) {
        this.renewTimer = setTimeout(() => this.renew(old), 10000);
      }
    }
  }
}
