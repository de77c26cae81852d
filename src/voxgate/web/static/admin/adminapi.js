// The admin API (/api/admin/…), over the console's own fetch helper (errors in OpenAI's shape).
import { api } from "../api.js";

const q = (params) => {
  const search = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== null && v !== undefined && v !== ""));
  return search.toString() ? `?${search}` : "";
};
const user = (name) => encodeURIComponent(name);

export const listUsers = () => api("/api/admin/users");
export const addUser = (name, admin) => api("/api/admin/users", { method: "POST", body: { name, admin } });
export const setDisabled = (name, disabled) =>
  api(`/api/admin/users/${user(name)}/${disabled ? "disable" : "enable"}`, { method: "POST" });
export const setRole = (name, role) => api(`/api/admin/users/${user(name)}/role`, { method: "POST", body: { role } });
export const signinLink = (name) => api(`/api/admin/users/${user(name)}/signin-link`, { method: "POST" });
export const setBudget = (name, limits) => api(`/api/admin/budgets/${user(name)}`, { method: "PUT", body: limits });
export const resetBudget = (name) => api(`/api/admin/budgets/${user(name)}`, { method: "DELETE" });
export const listKeys = (name) => api(`/api/admin/keys${q({ user: name })}`);
export const createKey = (name, label) => api("/api/admin/keys", { method: "POST", body: { user: name, name: label } });
export const revokeKey = (id) => api(`/api/admin/keys/${id}/revoke`, { method: "POST" });
export const liveCalls = () => api("/api/admin/calls/live");
export const endCall = (id) => api(`/api/admin/calls/${encodeURIComponent(id)}/end`, { method: "POST" });
export const instruct = (id, instructions, mode) =>
  api(`/api/admin/calls/${encodeURIComponent(id)}/instructions`, { method: "POST", body: { instructions, mode } });
export const audit = (filters) => api(`/api/admin/audit${q(filters)}`);
