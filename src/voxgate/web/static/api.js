// Calls to voxgate's own API. Errors come back in OpenAI's shape: {error: {type, code, message, param}};
// a network failure becomes an ApiError with status 0 and code "network_error".

export class ApiError extends Error {
  constructor(status, error, retryAfter = null) {
    super(error?.message || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.code = error?.code || null;
    this.param = error?.param || null;
    this.retryAfter = retryAfter;
    // A budget refusal says which budget and when it resets.
    this.limit = error?.limit || null;
    this.resetsAt = error?.resets_at || null;
  }
}

// Server clock minus ours, from the Date header of the latest answer: expiry times (tokens, sessions)
// are the server's unix seconds, and the browser's clock may be off by minutes.
let clockOffsetMs = 0;

/** Now on the server's clock, in milliseconds since the epoch. */
export const serverNow = () => Date.now() + clockOffsetMs;

function noteServerDate(response) {
  const date = Date.parse(response.headers.get("Date") || "");
  if (!Number.isNaN(date)) clockOffsetMs = date - Date.now();
}

async function apiError(response) {
  const data = await response.json().catch(() => ({}));
  const retry = Number(response.headers.get("Retry-After"));
  return new ApiError(response.status, data.error, retry > 0 ? retry : null);
}

export async function api(path, { method = "GET", body, keepalive = false } = {}) {
  let response;
  try {
    response = await fetch(path, {
      method,
      credentials: "same-origin",
      keepalive,
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiError(0, { code: "network_error", message: error.message });
  }
  noteServerDate(response);
  if (response.status === 204) return null;
  if (!response.ok) throw await apiError(response);
  return response.json().catch(() => ({}));
}

export const me = () => api("/api/me");
export const signIn = (credentials) => api("/api/auth/signin", { method: "POST", body: credentials });
export const signOut = () => api("/api/auth/signout", { method: "POST" });
export const realtimeToken = (request = {}) => api("/api/realtime-token", { method: "POST", body: request });

/** Report how a connect, reconnect, renewal or call end went (voxgate's metrics). */
export const clientMetrics = (report, { keepalive = false } = {}) =>
  api("/api/client-metrics", { method: "POST", body: report, keepalive });

/** Tell voxgate a call has ended (it can only end calls this user reported). */
export const hangupCall = (callId, { keepalive = false } = {}) =>
  api(`/api/calls/${encodeURIComponent(callId)}/hangup`, { method: "POST", keepalive });

/**
 * Relay mode: POST the SDP offer to voxgate, which creates the call upstream with the server's key
 * and answers with the SDP answer and voxgate's own call id (Location: /api/calls/vgc_…). Nothing the
 * upstream knows (key, URL, secret) comes back. Errors are OpenAI-shaped, as minting's.
 * @returns {Promise<{id: string|null, answer: string}>}
 */
export async function relayCall(sdp, session) {
  const body = { sdp };
  if (session && Object.keys(session).length) body.session = session;
  let response;
  try {
    response = await fetch("/api/realtime/calls", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/sdp" },
      body: JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiError(0, { code: "network_error", message: error.message });
  }
  noteServerDate(response);
  if (!response.ok) throw await apiError(response);
  const id = (response.headers.get("Location") || "").split("/").pop() || null;
  return { id, answer: await response.text() };
}

/** History: one page of the signed-in user's calls, newest first ({data, has_more}). */
export function listCalls({ limit = 20, before = null } = {}) {
  const query = new URLSearchParams({ limit: String(limit) });
  if (before) query.set("before", before);
  return api(`/api/calls?${query}`);
}

/** One call with its transcript, usage and cost. */
export const getCall = (callId) => api(`/api/calls/${encodeURIComponent(callId)}`);

/** Delete a call from the ledger. */
export const deleteCall = (callId) => api(`/api/calls/${encodeURIComponent(callId)}`, { method: "DELETE" });

/** Where a call's export downloads from (format: "json" or "md"). */
export const exportUrl = (callId, format) =>
  `/api/calls/${encodeURIComponent(callId)}/export?format=${encodeURIComponent(format)}`;
