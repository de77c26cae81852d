// The admin dashboard: a time-range picker and the charts of /api/admin/dashboard.
// Admins only (the server refuses anyone else); charts are SVG drawn by ./charts.js.

import { api, ApiError } from "../api.js";
import { pickLanguage, setLanguage, t } from "../i18n.js";
import { barChart, lineChart, rankChart } from "./charts.js";
import { renderNav } from "./nav.js";

const PRESETS = { "6h": 6, "24h": 24, "7d": 24 * 7, "30d": 24 * 30, "90d": 24 * 90 };
const HOUR_MS = 3600 * 1000;

const $ = (id) => document.getElementById(id);
const ms = (v) => (v >= 1000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`);
const pct = (v) => `${Math.round(v * 1000) / 10} %`;
const usd = (v) => (v >= 1 ? `$${v.toFixed(2)}` : `$${v.toFixed(4)}`);

/** The chosen range as ISO strings: a preset ending now, or the custom from/to fields. */
function chosenRange() {
  const preset = $("range").value;
  if (preset !== "custom") {
    const to = new Date();
    return { from: new Date(to.getTime() - PRESETS[preset] * HOUR_MS).toISOString(), to: to.toISOString() };
  }
  const from = new Date($("from").value);
  const to = new Date($("to").value);
  if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime()) || to <= from) return null;
  return { from: from.toISOString(), to: to.toISOString() };
}

function card(id, title, figure, chart, note = "") {
  const section = $(id);
  section.replaceChildren();
  const heading = document.createElement("h2");
  heading.textContent = title;
  section.append(heading);
  if (figure !== null) {
    const big = document.createElement("p");
    big.className = "figure";
    big.textContent = figure;
    section.append(big);
  }
  if (chart) section.append(chart);
  if (note) {
    const small = document.createElement("p");
    small.className = "note";
    small.textContent = note;
    section.append(small);
  }
}

function timings(data, key, title) {
  const overall = data[key];
  const times = overall.series.map((p) => p.t);
  const figure = overall.n ? `p50 ${ms(overall.p50)} · p95 ${ms(overall.p95)}` : "no data";
  card(key, title, figure, lineChart({
    label: title, times, step: data.step, format: ms,
    series: [
      { name: "p50", values: overall.series.map((p) => p.p50) },
      { name: "p95", values: overall.series.map((p) => p.p95) },
    ],
  }), `${overall.n} measurements`);
}

function render(data) {
  const times = data.minted.map((p) => p.t);
  const minted = data.minted.reduce((a, p) => a + p.value, 0);
  const relayed = data.relayed.reduce((a, p) => a + p.value, 0);
  card("minted", `Minted and relayed per ${data.step}`, `${minted} secrets · ${relayed} calls`, lineChart({
    label: `Secrets minted and calls relayed per ${data.step}`, times, step: data.step,
    series: [
      { name: "minted", values: data.minted.map((p) => p.value) },
      { name: "relayed", values: data.relayed.map((p) => p.value) },
    ],
  }));
  const connects = data.connects;
  card("connects", "Connect success rate",
    connects.total ? `${pct(connects.success_rate)} (${connects.ok} of ${connects.total})` : "no connects",
    lineChart({
      label: "Connect success rate", times: connects.series.map((p) => p.t), step: data.step, format: pct,
      series: [{ name: "success", values: connects.series.map((p) => p.rate) }],
    }));
  timings(data, "connect_ms", "Connect time");
  timings(data, "first_audio_ms", "Time to first audio");
  const perDay = data.cost_per_day.map((p) => Number(p.usd));
  const total = perDay.reduce((a, b) => a + b, 0);
  const simulated = data.simulated_cost ? " (what OpenAI would charge: the local engine costs nothing)" : "";
  card("cost_per_day", "Cost per day", usd(total), barChart({
    label: "Cost per day in USD", labels: data.cost_per_day.map((p) => p.t), values: perDay, format: usd,
  }), simulated.trim());
  card("cost_per_user", "Cost per user", data.cost_per_user.length ? null : "no cost yet",
    data.cost_per_user.length
      ? rankChart({ label: "Cost per user in USD", format: usd,
        rows: data.cost_per_user.map((r) => ({ name: r.user, value: Number(r.usd) })) })
      : null);
  card("live_calls", "Live calls", `${data.live_calls.now} now`, lineChart({
    label: `Calls live per ${data.step}`, times: data.live_calls.series.map((p) => p.t), step: data.step,
    series: [{ name: "live", values: data.live_calls.series.map((p) => p.value) }],
  }));
  const runs = data.accuracy.filter((r) => r.wer !== null);
  const last = runs.at(-1);
  card("accuracy", "Transcription accuracy (probe)",
    last ? `WER ${pct(last.wer)} · accuracy ${pct(Math.max(0, 1 - last.wer))}` : "no probe runs",
    lineChart({
      label: "Word error rate of the probe's transcriptions", times: runs.map((r) => r.t), step: data.step,
      format: pct, series: [{ name: "WER", values: runs.map((r) => r.wer) }],
    }), `${data.accuracy.length} probe runs (voxgate probe)`);
}

async function load() {
  const range = chosenRange();
  const status = $("status");
  if (!range) {
    status.textContent = "Choose a start before the end.";
    return;
  }
  status.textContent = "Loading…";
  try {
    const query = new URLSearchParams(range);
    const data = await api(`/api/admin/dashboard?${query}`);
    render(data);
    status.textContent = `${new Date(data.from).toLocaleString()} – ${new Date(data.to).toLocaleString()}`;
    document.body.dataset.loaded = "true";
  } catch (error) {
    status.textContent = error instanceof ApiError && error.status === 403
      ? "Only admins may see the dashboard." : `Could not load the dashboard: ${error.message}`;
  }
}

/** The admin console's nav (admin/nav.js), with this page marked as the current one. */
async function nav() {
  await setLanguage(pickLanguage(), { remember: false });
  const bar = $("admin-nav");
  renderNav(bar, "dashboard", t);
  bar.querySelector('a[href="/admin/dashboard"]')?.setAttribute("aria-current", "page");
}

function init() {
  nav();
  const custom = () => {
    const on = $("range").value === "custom";
    $("custom").hidden = !on;
    if (!on) load();
  };
  $("range").addEventListener("change", custom);
  $("apply").addEventListener("click", load);
  $("refresh").addEventListener("click", load);
  load();
}

init();
