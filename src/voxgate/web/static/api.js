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
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const retry = Number(response.headers.get("Retry-After"));
    throw new ApiError(response.status, data.error, retry > 0 ? retry : null);
  }
  return data;
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
