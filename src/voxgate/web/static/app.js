// The console's wiring: builds each part and connects them to the page. No logic of its own beyond
// turning clicks and keys into calls on the parts, and the parts' news into what the page shows.
import { ApiError, clientMetrics, getCall, hangupCall, realtimeToken, relayCall } from "./api.js";
import { CallEvents, FINAL_REASONS, endMessage, warningMessage } from "./callevents.js";
import { stepsSummary } from "./connectsteps.js";
import { RunningCost, money } from "./cost.js";
import { ErrorBox } from "./errors.js";
import { EventLog } from "./eventlog.js";
import { Conversation } from "./events.js";
import { History } from "./history.js";
import { HistoryView } from "./historyview.js";
import { LANGUAGES, language, onLanguageChange, pickLanguage, setLanguage, t, translate } from "./i18n.js";
import { LIVE, LiveTranscript, muteEvent, relayLive } from "./live.js";
import { Meters } from "./meters.js";
import { listMics, saveMic, savedMic } from "./mic.js";
import { pushToTalk } from "./pttcontrols.js";
import { Session } from "./session.js";
import { Account } from "./signin.js";
import { Talk } from "./talk.js";
import { TokenSource } from "./token.js";
import { Transcript } from "./transcript.js";
import { transcriptTools } from "./transcripttools.js";
import { Views } from "./views.js";

const $ = (id) => document.getElementById(id);

// The realtime voices (reference §3.1); the server's policy may allow fewer.
const VOICES = ["alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar"];
const TRANSCRIPTION_LANGUAGES = {
  en: "English", es: "Español", fr: "Français", de: "Deutsch", it: "Italiano", pt: "Português",
  nl: "Nederlands", pl: "Polski", ru: "Русский", tr: "Türkçe", ar: "العربية", hi: "हिन्दी",
  zh: "中文", ja: "日本語", ko: "한국어",
};
// Renew this long before the 60-minute cap; ?renew_before=SECONDS changes it (for trying it out).
const RENEW_BEFORE_S = Number(new URLSearchParams(location.search).get("renew_before")) || 300;

const stored = (key, fallback = "") => {
  try {
    return localStorage.getItem(key) ?? fallback;
  } catch {
    return fallback;
  }
};
const store = (key, value) => {
  try {
    localStorage.setItem(key, value);
  } catch {
    /* not remembered */
  }
};

// How calls are made, as /api/me says: "relay" (the offer goes through voxgate, which holds every key:
// no secret ever reaches this page) or "ephemeral" (an upstream client secret is minted for the page).
// A server that does not say predates the relay.
let consoleMode = "ephemeral";
const relayMode = () => consoleMode === "relay";
// What the user may call (/api/me's profiles: Realtime, and GPT-Live when the server offers it), and which.
let profiles = [];
const profile = () => profiles.find((p) => p.id === $("profile-select").value) || profiles[0] || { api: "realtime" };
const liveMode = () => profile().api === LIVE;
// What /api/me says answers calls when it is voxgate's local engine rather than OpenAI (else null): the
// console names it instead of a model name the engine does not run.
let localEngine = null;
const engineLabel = () =>
  localEngine &&
  (localEngine.responder === "chat" ? t("engine.chat", { model: localEngine.chat_model || "?" }) : t("engine.demo"));

// ---- the parts ---------------------------------------------------------------------------------

// A countdown (429) keeps the control it is about disabled until the time is up.
const errorBox = new ErrorBox($("error"), {
  onAction: (action) => act(action),
  gates: { connect: $("connect-button"), signin: $("signin-form").querySelector("button[type=submit]") },
});
// ---- what voxgate says about the call: warnings, and why it ended it ---------------------------------

const callEvents = new CallEvents({
  onWarning: (data) => {
    const message = warningMessage(data);
    const warning = $("call-warning");
    warning.textContent = t(message.key, message.params);
    warning.hidden = false;
  },
  onEnded: (data) => {
    if (!FINAL_REASONS.has(data.reason)) return;
    $("call-warning").hidden = true;
    showError(endMessage(data));
    session.stop(data.reason);
  },
});

/** Why voxgate ended `call`, if it did (then the console stops instead of reconnecting). */
async function finalEnd(call) {
  if (!call?.id || !(relayMode() || liveMode())) return null;
  try {
    const info = await getCall(call.id);
    return FINAL_REASONS.has(info.end_reason) ? info.end_reason : null;
  } catch (error) {
    return error instanceof ApiError && error.status === 401 ? error.code || "signed_out" : null;
  }
}

const showError = (error) => {
  if (error && !(error instanceof Error) && error.key) errorBox.showMessage(error);
  else errorBox.show(error);
  if (error instanceof ApiError && error.status === 401) {
    session.dispose("signed_out");
    account.signedOut();
  }
};
const tokens = new TokenSource(() => realtimeToken());
const history = new History();
const transcript = new Transcript($("transcript"), { stamps: true });
const meters = new Meters();
const eventLog = new EventLog($("event-log"));
const conversation = new Conversation({
  transcript,
  history,
  onChange: () => scheduleRender(),
  onError: (error) => showError(error),
  onResponseDone: () => talk.responseDone(),
});
const session = new Session({
  tokens,
  history,
  renewBeforeS: RENEW_BEFORE_S,
  choices: () => ({
    voice: $("voice-select").value,
    language: $("language-select").value,
    deviceId: savedMic(),
    // The caller's own instructions, only where the policy takes them (else the call would be refused).
    instructions: profile().may_set_instructions ? $("instructions-input").value.trim() : "",
  }),
  busy: () => conversation.responseActive || conversation.assistantSpeaking || conversation.userSpeaking || talk.holding,
  report: (body, options) => clientMetrics(body, options),
  hangup: (callId, options) => hangupCall(callId, options),
  relay: (sdp, overrides) => (liveMode() ? relayLive(sdp, profile().model, overrides) : relayCall(sdp, overrides)),
  mode: () => consoleMode,
  protocol: () => profile().api,
  hooks: {
    onState: (state) => onSessionState(state),
    onStep: (name, state, ms) => showStep(name, state, ms),
    onEvent: (event) => {
      eventLog.add("in", event);
      conversation.handle(event);
      talk.handle(event);
      if (liveMode()) liveTranscript.handle(event);
      if (event.type === "session.updated" || event.type === "session.created") scheduleRender();
    },
    onSent: (event) => eventLog.add("out", event),
    onRemoteStream: (stream) => {
      const audio = $("remote-audio");
      audio.srcObject = stream;
      audio.play().catch(() => {});
      meters.attach("assistant", stream, $("assistant-meter"));
    },
    onMicStream: (stream) => {
      // During a connect the meter waits for the call (AudioContext work would slow the connect).
      if (stream && session.state !== "connecting") {
        meters.attach("mic", stream, $("mic-meter"));
        fillMics(); // the labels appear once the microphone is allowed
      }
      if (!stream) meters.detach("mic");
    },
    onCall: (call) => {
      // The ledger's running cost of the call in use (relay mode: its id is voxgate's own).
      if (call && (relayMode() || liveMode())) runningCost.follow(call.id);
      // What voxgate decides about the call (warnings, why it ended) comes from voxgate itself.
      if (call && (relayMode() || liveMode())) callEvents.follow(call.id);
      liveTranscript.reset();
      scheduleRender();
    },
    onNote: (key, kind) => transcript.note(key, kind),
    finalEnd: (call) => finalEnd(call),
    onError: (error) => showError(error),
  },
});
const talk = new Talk({ session, conversation, transcript, history, listen: () => meters.watch("mic") });
const liveTranscript = new LiveTranscript({
  transcript,
  history,
  conversation,
  onChange: () => scheduleRender(),
  onNote: (key, kind) => transcript.note(key, kind),
  // Ended by voxgate (a hang-up, a budget) or by the upstream: not a drop to reconnect from. An expired
  // session was not renewed in time: the channel's close reconnects as for a drop.
  onClosed: (reason) => {
    if (reason === "expired") return;
    transcript.note(t("note.liveClosed", { reason }), "warn");
    session.stop(`closed_${reason}`);
  },
});
const runningCost = new RunningCost($("call-cost"), { onError: (error) => showError(error) });
const historyView = new HistoryView({ onError: (error) => showError(error), onOpen: (path) => views.go(path) });
const views = new Views({
  onHistory: () => historyView.load(),
  onCall: (callId) => historyView.open(callId),
});
const account = new Account({
  onUser: (user, info) => onUser(user, info),
  onError: (error) => showError(error),
  beforeSignOut: async () => {
    await session.dispose("signout");
    tokens.stop();
    await meters.close();
  },
});

// ---- connect and stop --------------------------------------------------------------------------

async function connect(event) {
  // Steps are timed from the click itself (the event's time is on performance.now()'s clock).
  const t0 = event?.timeStamp || performance.now();
  holdFrames();
  errorBox.clear();
  resetSteps();
  const earlier = transcript.element.childElementCount > 0;
  runningCost.reset();
  $("call-warning").hidden = true;
  try {
    await session.start(t0);
    if (earlier && session.connected) transcript.note("note.newConversation");
  } catch (error) {
    showError(error);
  }
}

async function stop(reason = "user") {
  await session.stop(reason);
}

function act(action) {
  if (action === "retry") connect();
  else if (action === "recheck") account.start();
  else if (action === "signin") $("key").focus();
}

function onSessionState(state) {
  if (state !== "connecting") releaseFrames();
  const focused = document.activeElement;
  if (state === "idle") {
    runningCost.stop(); // the last cost stays shown
    conversation.reset();
    $("remote-audio").srcObject = null;
    meters.close();
    talk.holding = false;
  } else if (state === "reconnecting") {
    conversation.reset();
  } else if (state === "connected") {
    if (!relayMode()) tokens.prefetch(); // the next reconnect or renewal finds a token ready
    if (session.micStream) meters.attach("mic", session.micStream, $("mic-meter"));
    fillMics();
  }
  scheduleRender(() => {
    // Keep the keyboard focus on the call's button as Connect and Hang up take each other's place.
    if (state !== "idle" && focused === $("connect-button")) $("stop-button").focus();
    const lost = !focused || focused === document.body || focused.hidden || focused.disabled;
    if (state === "idle" && (focused === $("stop-button") || lost)) $("connect-button").focus();
  });
}

// ---- what the page shows ----------------------------------------------------------------------

// Only what changed is written: render() runs on every event, and a write costs style work even when
// the value is the same (which matters while a call is being set up).
function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
}
function setAttr(element, name, value) {
  if (element.getAttribute(name) !== value) element.setAttribute(name, value);
}
function setLabel(element, key) {
  if (element.dataset.i18n !== key) element.dataset.i18n = key;
  setText(element, t(key));
}

// Drawn once per frame at most, and never inside the click that starts a call: the offer goes out first.
let renderQueued = false;
const afterRender = [];
function scheduleRender(then) {
  if (then) afterRender.push(then);
  if (renderQueued) return;
  renderQueued = true;
  const frame = () =>
    requestAnimationFrame(() => {
      renderQueued = false;
      render();
      for (const task of afterRender.splice(0)) task();
    });
  if (frameHold) frameHold.held.then(frame);
  else frame();
}

// After Connect is clicked, the page draws its next frame once the call is up (or failed), or after
// FRAME_HOLD_MS if that takes longer. On a busy machine each frame holds the main thread for several
// milliseconds (its commit waits for the compositor), and the answer, the channel's opening and
// session.updated waited behind them: measured side by side, a connect drew 1-2 frames and took
// 4 ms (15 %) longer. Nobody sees 50 ms, a fast connect no longer flashes through its steps, and on
// a slower line the steps show as they happen.
const FRAME_HOLD_MS = 50;
let frameHold = null;
function holdFrames() {
  releaseFrames();
  let release;
  const held = new Promise((resolve) => {
    release = resolve;
  });
  const timer = setTimeout(releaseFrames, FRAME_HOLD_MS);
  frameHold = { held, release: () => (clearTimeout(timer), release()) };
}
function releaseFrames() {
  const hold = frameHold;
  frameHold = null;
  hold?.release();
}

function render() {
  const state = session.state;
  const live = session.connected;
  $("connect-button").hidden = state !== "idle";
  $("stop-button").hidden = state === "idle";
  const pill = $("call-state");
  setAttr(pill, "data-state", state);
  setLabel(pill, `state.${state}`);
  for (const id of ["mute-button", "ptt-button", "text-input", "send-button"]) $(id).disabled = !live;
  // GPT-Live's model owns turn-taking and its data channel takes only mute and unmute: no push-to-talk
  // (commit), no interrupt (cancel), no typed turn, no transcription setting.
  const gptLive = liveMode();
  for (const id of ["ptt-button", "ptt-hint", "interrupt-button", "text-form", "language-select", "language-label", "ptt-mode", "ptt-mode-label"]) {
    if ($(id).hidden !== gptLive) $(id).hidden = gptLive;
  }
  $("profile-select").disabled = state !== "idle";
  $("interrupt-button").disabled = !live || !(conversation.responseActive || conversation.assistantSpeaking);
  setAttr($("mute-button"), "aria-pressed", String(session.muted));
  setLabel($("mute-button"), session.muted ? "talk.unmute" : "talk.mute");
  setAttr($("ptt-button"), "aria-pressed", String(talk.holding));
  setLabel($("ptt-button"), !pttToggle() ? "talk.ptt" : talk.holding ? "talk.pttSend" : "talk.pttStart");
  setLabel($("ptt-hint"), pttToggle() ? "talk.pttHintToggle" : "talk.pttHint");
  setAttr($("speaker-button"), "aria-pressed", String($("remote-audio").muted));
  setLabel($("speaker-button"), $("remote-audio").muted ? "talk.speakerUnmute" : "talk.speakerMute");
  setAttr($("user-speaking"), "data-active", String(live && conversation.userSpeaking));
  setAttr($("assistant-speaking"), "data-active", String(live && conversation.assistantSpeaking));
  for (const step of $("steps").children) {
    // Relay mode has no token step: the page never holds a secret.
    const skipped = relayMode() && step.dataset.step === "token";
    if (step.hidden !== skipped) step.hidden = skipped;
    const { state: stepState, ms } = steps.get(step.dataset.step) || { state: "pending" };
    if (step.dataset.state !== stepState) step.dataset.state = stepState;
    setText(step.querySelector(".step-time"), stepState === "done" ? `${Math.round(ms)} ms` : "");
  }
  setText($("steps-summary"), stepsSummary(steps, (name) => relayMode() && name === "token"));
  showCallInfo();
}

// The connect steps' states, drawn by render().
const steps = new Map(); // name → {state, ms}
function resetSteps() {
  steps.clear();
  scheduleRender();
}

function showStep(name, state, ms) {
  steps.set(name, { state, ms });
  scheduleRender();
}

function timeOf(unixSeconds) {
  return new Date(unixSeconds * 1000).toLocaleTimeString(language(), { hour: "2-digit", minute: "2-digit" });
}

// Redrawn with every frame, so only rebuilt when the session or the language changed.
let callInfoFor = null;
function showCallInfo() {
  const call = session.call;
  const key = call?.session ? [call.session, language()] : null;
  if (key && callInfoFor && key[0] === callInfoFor[0] && key[1] === callInfoFor[1]) return;
  callInfoFor = key;
  const info = $("call-info");
  if (!call?.session) {
    setText(info, "");
    return;
  }
  const voice = call.session.audio?.output?.voice;
  const perMinute = liveMode() && profile().usd_per_minute;
  setText(
    info,
    t("call.info", {
      call: call.id || "?",
      model: engineLabel() || call.session.model || "?",
      voice: typeof voice === "string" ? voice : voice?.id || "?",
      until: call.expiresAt ? timeOf(call.expiresAt) : "?",
    }) + (perMinute ? ` · ${t("call.perMinute", { amount: money(perMinute) })}` : ""),
  );
}

function showTokenInfo(token = tokens.valid) {
  const signedIn = Boolean(account.user);
  $("token-info").textContent =
    relayMode() && signedIn
      ? t("token.relay")
      : token
        ? t("token.info", { model: engineLabel() || token.session?.model || "?", until: timeOf(token.expires_at) })
        : "";
}

function fillOptions(select, options, value) {
  select.replaceChildren(
    ...options.map(([optionValue, label]) => {
      const option = document.createElement("option");
      option.value = optionValue;
      option.textContent = label;
      return option;
    }),
  );
  select.value = options.some(([v]) => v === value) ? value : options[0][0];
}

function fillProfiles() {
  const select = $("profile-select");
  const several = profiles.length > 1;
  select.hidden = $("profile-label").hidden = !several;
  if (profiles.length) fillOptions(select, profiles.map((p) => [p.id, p.label]), select.value || stored("voxgate.profile"));
}

function fillChoices() {
  fillOptions($("ui-language"), Object.entries(LANGUAGES), language());
  // The profile's own voices (GPT-Live has more than Realtime); the server's policy may allow fewer.
  const voices = profile().voices?.length ? profile().voices : VOICES;
  fillOptions($("voice-select"), [["", t("settings.voiceDefault")], ...voices.map((v) => [v, v])], stored("voxgate.voice"));
  fillOptions(
    $("language-select"),
    [["auto", t("settings.languageAuto")], ...Object.entries(TRANSCRIPTION_LANGUAGES)],
    stored("voxgate.transcriptionLanguage", "auto"),
  );
  showLanguageHint();
  const instruct = Boolean(profile().may_set_instructions);
  $("instructions-input").hidden = $("instructions-label").hidden = !instruct;
  if (instruct && !$("instructions-input").value) $("instructions-input").value = stored("voxgate.instructions");
}

// The local engine's Whisper model may know one language only: a console set to another one says so.
function showLanguageHint() {
  const chosen = $("language-select").value;
  const known = localEngine?.transcription_languages;
  const warn = Boolean(known && chosen !== "auto" && !known.includes(chosen));
  $("language-hint").hidden = !warn;
  setText($("language-hint"), warn ? t("settings.languageLocalEnglish") : "");
}

async function fillMics() {
  const mics = await listMics().catch(() => []);
  const options = [["", t("settings.micDefault")]];
  mics.forEach((mic, index) => options.push([mic.deviceId, mic.label || t("settings.micNumbered", { n: index + 1 })]));
  fillOptions($("mic-select"), options, savedMic());
}

function onUser(user, info = {}) {
  historyView.setUser(user);
  localEngine = user ? info.local_engine || null : null;
  callInfoFor = null;
  showLanguageHint();
  if (user) {
    consoleMode = info.console_mode === "relay" ? "relay" : "ephemeral";
    profiles = info.profiles || [];
    fillProfiles();
    fillChoices();
    if (relayMode()) tokens.stop();
    else tokens.start();
    session.prepare({ revive: true });
    fillMics();
  } else {
    session.dispose("signed_out");
    tokens.stop();
    runningCost.reset();
  }
  showTokenInfo(user && !relayMode() ? undefined : null);
  views.setSignedIn(Boolean(user));
  render();
}

// ---- controls -----------------------------------------------------------------------------------

$("connect-button").addEventListener("click", connect);
// Ephemeral mode: a secret is minted once the person shows they mean to call, never on page load.
for (const type of ["pointerenter", "focus", "pointerdown"]) {
  $("connect-button").addEventListener(type, () => relayMode() || liveMode() || tokens.want());
}
$("stop-button").addEventListener("click", () => stop("user"));
$("mute-button").addEventListener("click", () => {
  session.setMuted(!session.muted);
  if (liveMode()) session.send(muteEvent(session.muted));
  render();
});
$("interrupt-button").addEventListener("click", () => talk.interrupt());
// The speaker: the assistant is still heard by the meters and transcribed, only not played.
$("speaker-button").addEventListener("click", () => {
  $("remote-audio").muted = !$("remote-audio").muted;
  render();
});
transcriptTools(transcript, {
  copy: $("transcript-copy"),
  download: $("transcript-download"),
  status: $("transcript-tools-status"),
});
$("text-form").addEventListener("submit", (event) => {
  event.preventDefault();
  if (talk.sendText($("text-input").value)) $("text-input").value = "";
});

// Push-to-talk, held or as a toggle, from its button or Space (pttcontrols.js).
const pttToggle = pushToTalk({
  button: $("ptt-button"),
  mode: $("ptt-mode"),
  talk,
  session,
  onChange: () => render(),
}).toggle;
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && !$("event-drawer").hidden) toggleLog(false);
});

// Settings: remembered; applied to the call in progress when it makes sense.
$("ui-language").addEventListener("change", (event) => setLanguage(event.target.value));
$("profile-select").addEventListener("change", (event) => {
  store("voxgate.profile", event.target.value);
  fillChoices();
  callInfoFor = null;
  render();
});
$("voice-select").addEventListener("change", (event) => {
  store("voxgate.voice", event.target.value);
  // A GPT-Live voice is fixed for the session: the next call uses the new one.
  if (session.connected && event.target.value && !liveMode()) {
    session.send({ type: "session.update", session: { type: "realtime", audio: { output: { voice: event.target.value } } } });
  }
});
$("language-select").addEventListener("change", (event) => {
  store("voxgate.transcriptionLanguage", event.target.value);
  showLanguageHint();
  const model = conversation.session?.audio?.input?.transcription?.model;
  if (session.connected && model) {
    const transcription = { model };
    if (event.target.value !== "auto") transcription.language = event.target.value;
    session.send({ type: "session.update", session: { type: "realtime", audio: { input: { transcription } } } });
  }
});
$("mic-select").addEventListener("change", (event) => {
  saveMic(event.target.value);
  session.switchMic(event.target.value).catch((error) => showError(error));
});
navigator.mediaDevices?.addEventListener?.("devicechange", () => fillMics());
$("ptt-mode").value = stored("voxgate.pttMode", "hold") === "toggle" ? "toggle" : "hold";
$("instructions-input").addEventListener("change", (event) => store("voxgate.instructions", event.target.value.trim()));
$("ptt-mode").addEventListener("change", (event) => {
  store("voxgate.pttMode", event.target.value);
  render();
});

// The event log drawer.
function toggleLog(open = $("event-drawer").hidden) {
  $("event-drawer").hidden = !open;
  $("log-toggle").setAttribute("aria-expanded", String(open));
  eventLog.show(open);
  (open ? $("log-close") : $("log-toggle")).focus();
}
$("log-toggle").addEventListener("click", () => toggleLog());
$("log-close").addEventListener("click", () => toggleLog(false));
$("log-clear").addEventListener("click", () => eventLog.clear());

// Leaving the page ends the call for real: channel, peer connection, tracks, AudioContext, and voxgate.
window.addEventListener("pagehide", () => {
  session.dispose("pagehide", { keepalive: true });
  meters.close();
});
tokens.onChange((token) => showTokenInfo(token));
tokens.onError((error) => {
  // A background refresh refused with 401: the sign-in has ended (expired, or signed out elsewhere).
  if (error instanceof ApiError && error.status === 401) showError(error);
});

// ---- start --------------------------------------------------------------------------------------

onLanguageChange(() => {
  fillChoices();
  fillMics();
  errorBox.render();
  showTokenInfo();
  runningCost.render();
  views.retitle();
  historyView.retranslate(views.current?.name);
  render();
});
window.addEventListener("unhandledrejection", (event) => showError(event.reason));
await setLanguage(pickLanguage(), { remember: false });
translate();
render();
await account.start();
document.documentElement.dataset.ready = "1";
