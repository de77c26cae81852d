// A browser voice agent written as OpenAI's Agents SDK docs show it, with the stock
// @openai/agents-realtime package (bundled by esbuild into page/dist/agent.bundle.js; nothing is patched).
//
// The page asks its own backend for a client key (POST ./token, as the docs' "generate an ephemeral
// key on your server" step), then connects with `apiKey` and, when the key's answer names one, the calls
// URL. Everything the page learns is kept on `window.agentTest` for the test to read; `window.say(text)`
// sends a typed message with `session.sendMessage`.
import { RealtimeAgent, RealtimeSession } from '@openai/agents-realtime';

const state = (window.agentTest = {
  status: 'starting',
  callId: null,
  error: null,
  events: [], // every transport event (what the server sent and what the SDK sent)
  history: [], // session.history after each update
  errors: [],
  token: null,
});
const $ = (id) => document.getElementById(id);
const show = (status) => {
  state.status = status;
  $('status').textContent = status;
};

/** The text of a history item: typed text, or the transcript of spoken audio. */
function textOf(item) {
  return (item.content || []).map((part) => part.text ?? part.transcript ?? '').join('');
}

async function main() {
  const tokenUrl = new URLSearchParams(location.search).get('token') || './token';
  const tokenResponse = await fetch(tokenUrl, { method: 'POST' });
  if (!tokenResponse.ok) throw new Error(`token: ${tokenResponse.status} ${await tokenResponse.text()}`);
  const token = await tokenResponse.json();
  state.token = {
    prefix: String(token.value).split('_')[0] + '_',
    calls_url: token.calls_url ?? null,
    model: token.session?.model ?? null,
  };

  // ---- OpenAI's browser voice agent (Agents SDK quickstart), unchanged -------------------------------
  const agent = new RealtimeAgent({
    name: 'Assistant',
    instructions: 'You are a helpful assistant.',
  });
  const session = new RealtimeSession(agent, {
    model: token.session?.model, // the model the key was minted for (the SDK's default otherwise)
  });
  // ------------------------------------------------------------------------------------------------------

  session.on('transport_event', (event) => state.events.push(event));
  session.on('history_updated', (history) => {
    state.history = history.map((item) => ({ ...item, text: textOf(item) }));
    const last = [...history].reverse().find((item) => item.role === 'assistant');
    if (last) $('reply').textContent = textOf(last);
  });
  session.on('error', (error) => state.errors.push(String(error?.error?.message ?? error?.error ?? error)));

  show('connecting');
  // Automatically connects the microphone and audio output in the browser via WebRTC.
  await session.connect({ apiKey: token.value, ...(token.calls_url ? { url: token.calls_url } : {}) });
  state.callId = session.transport.callId ?? null;
  $('call').textContent = state.callId;
  window.session = session;
  window.say = (text) => session.sendMessage(text);
  window.hangup = () => {
    session.close();
    show('closed');
  };
  show('connected');
}

main().catch((error) => {
  state.error = String(error?.message ?? error);
  show('failed');
  $('reply').textContent = state.error;
});
