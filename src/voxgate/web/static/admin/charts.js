// Small SVG charts, drawn by voxgate itself: no library, no build step, nothing inline for the CSP.
// Colours come from dashboard.css classes (.series-0, .series-1…) so they follow the light/dark theme.
// Every chart has a <title> and a <desc> naming its data for screen readers, and a <title> per point.

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 560;
const HEIGHT = 200;
const PAD = { top: 22, right: 32, bottom: 28, left: 52 };

function el(name, attributes = {}, text = null) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

function frame(label, summary) {
  const svg = el("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", class: "chart" });
  svg.append(el("title", {}, label), el("desc", {}, summary));
  return svg;
}

/** Names of the series and their colours, above the plot's right end. */
function legend(svg, names) {
  let x = WIDTH - PAD.right;
  for (let index = names.length - 1; index >= 0; index -= 1) {
    const label = el("text", { x, y: 12, class: "axis", "text-anchor": "end" }, names[index]);
    x -= names[index].length * 6.5 + 6;
    svg.append(label, el("line", { x1: x - 14, x2: x, y1: 8, y2: 8, class: `line series-${index}` }));
    x -= 24;
  }
}

/** Round numbers for an axis from 0 to at least ``max``: [step, top]. */
function niceScale(max) {
  if (!(max > 0)) return [1, 4];
  const rough = max / 4;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= rough);
  return [step, step * Math.ceil(max / step)];
}

function axes(svg, top, step, format, ticks) {
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  for (let value = 0; value <= top + step / 2; value += step) {
    const y = PAD.top + plotH - (value / top) * plotH;
    svg.append(el("line", { x1: PAD.left, x2: PAD.left + plotW, y1: y, y2: y, class: "grid" }));
    svg.append(el("text", { x: PAD.left - 6, y: y + 4, class: "axis", "text-anchor": "end" }, format(value)));
  }
  for (const { x, label } of ticks) {
    svg.append(el("text", { x, y: HEIGHT - 8, class: "axis", "text-anchor": "middle" }, label));
  }
}

/** Tick labels for about six of the points' times. */
function timeTicks(times, xOf, step) {
  const every = Math.max(1, Math.ceil(times.length / 6));
  const options = step === "hour" ? { hour: "2-digit", minute: "2-digit" } : { month: "short", day: "numeric" };
  return times
    .map((t, i) => ({ i, t }))
    .filter(({ i }) => i % every === 0)
    .map(({ i, t }) => ({ x: xOf(i), label: new Date(t).toLocaleString(undefined, options) }));
}

/**
 * A line chart of one or more series over the same times.
 * @param {{label: string, times: string[], step: string, series: {name: string, values: (number|null)[]}[],
 *          format?: (v: number) => string}} spec
 */
export function lineChart({ label, times, step, series, format = (v) => String(v) }) {
  const values = series.flatMap((s) => s.values).filter((v) => v !== null && v !== undefined);
  const [tick, top] = niceScale(Math.max(0, ...values));
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const xOf = (i) => PAD.left + (times.length > 1 ? (i / (times.length - 1)) * plotW : plotW / 2);
  const yOf = (v) => PAD.top + plotH - (v / top) * plotH;
  const summary = series.map((s) => `${s.name}: ${s.values.filter((v) => v !== null).length} points`).join("; ");
  const svg = frame(label, summary || "no data");
  axes(svg, top, tick, format, timeTicks(times, xOf, step));
  if (series.length > 1) legend(svg, series.map((s) => s.name));
  series.forEach((s, index) => {
    let path = "";
    s.values.forEach((v, i) => {
      if (v === null || v === undefined) return;
      path += `${path && s.values[i - 1] !== null && s.values[i - 1] !== undefined ? "L" : "M"}${xOf(i)},${yOf(v)}`;
    });
    if (path) svg.append(el("path", { d: path, class: `line series-${index}` }));
    s.values.forEach((v, i) => {
      if (v === null || v === undefined) return;
      const dot = el("circle", { cx: xOf(i), cy: yOf(v), r: 2.5, class: `dot series-${index}` });
      dot.append(el("title", {}, `${s.name} ${new Date(times[i]).toLocaleString()}: ${format(v)}`));
      svg.append(dot);
    });
  });
  return svg;
}

/**
 * Vertical bars, one per time (or category).
 * @param {{label: string, labels: string[], values: number[], step?: string, format?: (v: number) => string}} spec
 */
export function barChart({ label, labels, values, step = "day", format = (v) => String(v) }) {
  const [tick, top] = niceScale(Math.max(0, ...values));
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const slot = plotW / Math.max(1, values.length);
  const xOf = (i) => PAD.left + slot * i + slot / 2;
  const svg = frame(label, `${values.length} bars, total ${format(values.reduce((a, b) => a + b, 0))}`);
  axes(svg, top, tick, format, timeTicks(labels, xOf, step));
  values.forEach((v, i) => {
    const h = (v / top) * plotH;
    const bar = el("rect", {
      x: xOf(i) - slot * 0.35, y: PAD.top + plotH - h, width: slot * 0.7, height: Math.max(h, v > 0 ? 1 : 0),
      class: "bar series-0",
    });
    bar.append(el("title", {}, `${new Date(labels[i]).toLocaleDateString()}: ${format(v)}`));
    svg.append(bar);
  });
  return svg;
}

/**
 * Horizontal bars with their names (a ranking, e.g. cost per user).
 * @param {{label: string, rows: {name: string, value: number}[], format?: (v: number) => string}} spec
 */
export function rankChart({ label, rows, format = (v) => String(v) }) {
  const rowH = 24;
  const height = Math.max(rowH, rows.length * rowH) + 8;
  const svg = el("svg", { viewBox: `0 0 ${WIDTH} ${height}`, role: "img", class: "chart" });
  svg.append(el("title", {}, label), el("desc", {}, rows.map((r) => `${r.name} ${format(r.value)}`).join("; ")));
  const max = Math.max(0, ...rows.map((r) => r.value)) || 1;
  const left = 140;
  const room = WIDTH - left - 90;
  rows.forEach((row, i) => {
    const y = 4 + i * rowH;
    svg.append(el("text", { x: left - 8, y: y + 16, class: "axis", "text-anchor": "end" }, row.name.slice(0, 20)));
    svg.append(el("rect", { x: left, y: y + 4, width: Math.max(1, (row.value / max) * room), height: rowH - 8,
      class: "bar series-1" }));
    svg.append(el("text", { x: left + (row.value / max) * room + 6, y: y + 16, class: "axis" }, format(row.value)));
  });
  return svg;
}
