// Calls to voxgate's own API. Errors come back in OpenAI's shape: {error: {type, code, message, param}}.

export class ApiError extends Error {
  constructor(status, error, retryAfter) {
    super(error?.message || `HTTP ${status}`);
    this.status = status;
    this.code = error?.code || null;
    this.param = error?.param || null;
    this.retryAfter = retryAfter;
  }
}

export async function api(path, { method = "GET", body } = {}) {
  const response = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const retry = response.headers.get("Retry-After");
    throw new ApiError(response.status, data.error, retry ? Number(retry) : null);
  }
  return data;
}

export const me = () => api("/api/me");
export const signIn = (credentials) => api("/api/auth/signin", { method: "POST", body: credentials });
export const signOut = () => api("/api/auth/signout", { method: "POST" });
export const realtimeToken = (request = {}) => api("/api/realtime-token", { method: "POST", body: request });
