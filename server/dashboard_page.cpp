#include "server/dashboard_page.h"

namespace sieve::server {

namespace {

// The page. Its script keeps `document.body.dataset` up to date (updates, cells: the heatmap's
// non-empty cells) so a browser test can tell it drew something.
constexpr std::string_view kPage = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sieve — live</title>
<style>
  :root { --bg: #0f1117; --panel: #171a23; --ink: #e6e8ef; --dim: #8a90a2; --line: #262a36;
          --accent: #7aa2ff; --warm: #ffb454; --ok: #57d38c; }
  * { box-sizing: border-box; }
  body { margin: 0; background: var(--bg); color: var(--ink);
         font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
  header { display: flex; align-items: baseline; gap: 16px; padding: 14px 20px;
           border-bottom: 1px solid var(--line); }
  header h1 { font-size: 18px; margin: 0; font-weight: 600; }
  header .meta { color: var(--dim); }
  #status { margin-left: auto; color: var(--dim); }
  #status.live::before { content: "● "; color: var(--ok); }
  main { padding: 16px 20px; display: grid; gap: 16px; }
  .cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); gap: 12px; }
  .card { background: var(--panel); border: 1px solid var(--line); border-radius: 8px;
          padding: 10px 12px; }
  .card .label { color: var(--dim); font-size: 12px; text-transform: uppercase;
                 letter-spacing: .04em; }
  .card .value { font-size: 22px; font-weight: 600; margin: 2px 0 4px; }
  .card svg { width: 100%; height: 44px; display: block; }
  section { background: var(--panel); border: 1px solid var(--line); border-radius: 8px;
            padding: 12px; }
  section h2 { font-size: 14px; margin: 0 0 8px; font-weight: 600; }
  section .note { color: var(--dim); font-size: 12px; margin: 0 0 8px; }
  .maps { display: flex; gap: 16px; flex-wrap: wrap; align-items: flex-start; }
  canvas { image-rendering: pixelated; background: #0b0d13; border-radius: 4px; }
  .legend { display: flex; gap: 12px; align-items: center; color: var(--dim); font-size: 12px;
            margin-top: 6px; }
  .swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px;
            vertical-align: -2px; margin-right: 4px; }
  #tip { position: fixed; pointer-events: none; background: #000c; color: #fff; padding: 4px 8px;
         border-radius: 4px; font-size: 12px; display: none; }
</style>
</head>
<body>
<header>
  <h1>sieve</h1>
  <span class="meta" id="model"></span>
  <span class="meta" id="totals"></span>
  <span id="status">connecting…</span>
</header>
<main>
  <div class="cards">
    <div class="card"><div class="label">Throughput</div><div class="value" id="v-tps">–</div>
      <svg id="s-tps" viewBox="0 0 200 44" preserveAspectRatio="none"></svg></div>
    <div class="card"><div class="label">Time to first token</div><div class="value" id="v-ttft">–</div>
      <svg id="s-ttft" viewBox="0 0 200 44" preserveAspectRatio="none"></svg></div>
    <div class="card"><div class="label">Time per output token</div><div class="value" id="v-tpot">–</div>
      <svg id="s-tpot" viewBox="0 0 200 44" preserveAspectRatio="none"></svg></div>
    <div class="card"><div class="label">Running / waiting</div><div class="value" id="v-queue">–</div>
      <svg id="s-queue" viewBox="0 0 200 44" preserveAspectRatio="none"></svg></div>
    <div class="card"><div class="label">KV cache in use</div><div class="value" id="v-kv">–</div>
      <svg id="s-kv" viewBox="0 0 200 44" preserveAspectRatio="none"></svg></div>
  </div>
  <section>
    <h2>Expert load</h2>
    <p class="note" id="heat-note">Tokens routed to each expert (columns) of each MoE layer (rows).</p>
    <div class="maps">
      <div><canvas id="heat"></canvas>
        <div class="legend"><span>fewer</span><canvas id="ramp" width="160" height="10"></canvas>
          <span>more tokens</span><span id="heat-max"></span></div></div>
      <div id="tiers-box" style="display:none"><canvas id="tiers"></canvas>
        <div class="legend" id="placement-line"></div>
        <div class="legend">
          <span><i class="swatch" style="background:#7aa2ff"></i>device</span>
          <span><i class="swatch" style="background:#ffb454"></i>host</span>
          <span><i class="swatch" style="background:#57d38c"></i>uploaded</span>
          <span><i class="swatch" style="background:#2a2f3d"></i>idle</span>
          <span><i class="swatch" style="border:2px solid #fff;background:none"></i>resident</span>
        </div></div>
    </div>
  </section>
</main>
<div id="tip"></div>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
// Inferno-like ramp: dark → purple → orange → pale yellow.
const STOPS = [[11, 13, 32], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]];
function ramp(x) {
  x = Math.max(0, Math.min(1, x));
  const f = x * (STOPS.length - 1), i = Math.min(STOPS.length - 2, Math.floor(f)), r = f - i;
  const a = STOPS[i], b = STOPS[i + 1];
  return `rgb(${a.map((v, k) => Math.round(v + (b[k] - v) * r)).join(",")})`;
}
(function drawRamp() {
  const c = $("ramp"), g = c.getContext("2d");
  for (let x = 0; x < c.width; x++) { g.fillStyle = ramp(x / (c.width - 1)); g.fillRect(x, 0, 1, c.height); }
})();
function fmt(v, unit, digits = 1) {
  if (v === null || v === undefined || !isFinite(v)) return "–";
  if (Math.abs(v) >= 1000) return (v / 1000).toFixed(digits) + "k" + unit;
  return v.toFixed(digits) + unit;
}
function spark(id, series, color, series2, color2) {
  const svg = $(id), w = 200, h = 44;
  const all = series.concat(series2 || []).filter((v) => v !== null && isFinite(v));
  const max = Math.max(1e-9, ...all);
  const line = (s, c) => {
    if (s.length < 2) return "";
    let d = "", pen = false;
    s.forEach((v, i) => {
      if (v === null || !isFinite(v)) { pen = false; return; }
      const x = (i / (s.length - 1)) * w, y = h - 2 - (v / max) * (h - 6);
      d += (pen ? "L" : "M") + x.toFixed(1) + "," + y.toFixed(1);
      pen = true;
    });
    return `<path d="${d}" fill="none" stroke="${c}" stroke-width="1.6"/>`;
  };
  svg.innerHTML = line(series, color) + (series2 ? line(series2, color2) : "");
}
function last(s) {
  for (let i = s.length - 1; i >= 0; i--) if (s[i] !== null && isFinite(s[i])) return s[i];
  return null;
}
let layout = null;  // cell geometry of the last draw, for the tooltip
function drawGrid(canvas, rows, cols, cell, paint) {
  canvas.width = cols * cell; canvas.height = rows * cell;
  canvas.style.width = canvas.width + "px"; canvas.style.height = canvas.height + "px";
  const g = canvas.getContext("2d");
  g.fillStyle = "#0b0d13"; g.fillRect(0, 0, canvas.width, canvas.height);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) paint(g, r, c, c * cell, r * cell);
}
const TIER_COLORS = ["#2a2f3d", "#7aa2ff", "#ffb454", "#57d38c"];
function render(d) {
  $("model").textContent = d.model;
  $("totals").textContent = `${d.stats.steps} steps · ${d.stats.generated_tokens} tokens out · up ${Math.round(d.uptime_s)} s`;
  const s = d.series;
  $("v-tps").textContent = fmt(last(s.tokens_per_s), " tok/s");
  $("v-ttft").textContent = fmt(last(s.ttft_ms), " ms");
  $("v-tpot").textContent = fmt(last(s.tpot_ms), " ms", 2);
  $("v-queue").textContent = `${d.stats.running} / ${d.stats.waiting}`;
  $("v-kv").textContent = fmt(last(s.kv_used_pct), " %");
  spark("s-tps", s.tokens_per_s, "#7aa2ff");
  spark("s-ttft", s.ttft_ms, "#ffb454");
  spark("s-tpot", s.tpot_ms, "#ff7a90");
  spark("s-queue", s.running, "#57d38c", s.waiting, "#ffb454");
  spark("s-kv", s.kv_used_pct, "#c792ea");

  const rows = d.heat.length, cols = d.num_experts;
  const cell = Math.max(3, Math.min(28, Math.floor(Math.min(900 / Math.max(cols, 1), 520 / Math.max(rows, 1)))));
  let max = 0, cells = 0;
  for (const row of d.heat) for (const v of row) { if (v > max) max = v; if (v > 0) cells++; }
  const scale = Math.log1p(max);
  drawGrid($("heat"), rows, cols, cell, (g, r, c, x, y) => {
    const v = d.heat[r][c];
    g.fillStyle = v > 0 ? ramp(Math.log1p(v) / scale) : "#161924";
    g.fillRect(x, y, cell - (cell > 4 ? 1 : 0), cell - (cell > 4 ? 1 : 0));
  });
  $("heat-max").textContent = max ? `(max ${max} in ${Math.round(d.heat_covers_s)} s)` : "(no tokens yet)";
  $("heat-note").textContent = `Tokens routed to each expert (columns) of each of ${rows} MoE layers (rows), over the last ${Math.round(Math.min(d.window_s, d.heat_covers_s || d.window_s))} s.`;
  const p = d.placement;
  if (p && p.tier && p.tier.length === rows) {
    $("tiers-box").style.display = "";
    let tiered = 0;
    for (const row of p.tier) for (const t of row) if (t > 0) tiered++;
    document.body.dataset.tiered = String(tiered);
    $("placement-line").textContent = `placement ${p.policy}: ${p.device_slots} experts fit the device; ` +
      `last step's MoE ${fmt(p.step_actual_ms, " ms", 2)} measured, ${fmt(p.step_predicted_ms, " ms", 2)} predicted`;
    drawGrid($("tiers"), rows, cols, cell, (g, r, c, x, y) => {
      g.fillStyle = TIER_COLORS[p.tier[r][c]] || TIER_COLORS[0];
      g.fillRect(x, y, cell - 1, cell - 1);
      if (p.resident && p.resident[r][c] && cell >= 5) {
        g.strokeStyle = "#fff"; g.lineWidth = 1; g.strokeRect(x + 0.5, y + 0.5, cell - 2, cell - 2);
      }
    });
  }
  layout = { cell, rows, cols, heat: d.heat, layers: d.moe_layers, placement: p };
  document.body.dataset.cells = String(cells);
  document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
}
function tooltip(ev) {
  const tip = $("tip");
  if (!layout) return;
  const rect = ev.target.getBoundingClientRect();
  const c = Math.floor((ev.clientX - rect.left) / layout.cell), r = Math.floor((ev.clientY - rect.top) / layout.cell);
  if (r < 0 || c < 0 || r >= layout.rows || c >= layout.cols) { tip.style.display = "none"; return; }
  const names = ["idle", "device", "host", "uploaded"];
  let text = `layer ${layout.layers[r]}, expert ${c}: ${layout.heat[r][c]} tokens`;
  const p = layout.placement;
  if (p && p.tier) text += `, ran on ${names[p.tier[r][c]]}` + (p.resident && p.resident[r][c] ? ", resident" : "");
  tip.textContent = text;
  tip.style.left = ev.clientX + 12 + "px"; tip.style.top = ev.clientY + 12 + "px"; tip.style.display = "block";
}
for (const id of ["heat", "tiers"]) {
  $(id).addEventListener("mousemove", tooltip);
  $(id).addEventListener("mouseleave", () => { $("tip").style.display = "none"; });
}
async function poll() {
  try {
    const r = await fetch("/dashboard/data", { cache: "no-store" });
    if (!r.ok) throw new Error(r.status);
    render(await r.json());
    $("status").textContent = "live"; $("status").className = "live";
  } catch (e) {
    $("status").textContent = "server unreachable"; $("status").className = "";
  }
  setTimeout(poll, 1000);
}
poll();
</script>
</body>
</html>
)html";

}  // namespace

std::string_view dashboard_page() {
  return kPage;
}

}  // namespace sieve::server
