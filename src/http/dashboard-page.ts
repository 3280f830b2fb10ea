// /dashboard: one self-contained page (its script and style inline, allowed by their hashes in the
// Content-Security-Policy; nothing fetched from elsewhere) that reads GET /v1/stats every 2 seconds and
// replays dead letters. The page itself holds no data, so it is served without a key; with API_KEYS set it
// asks for a key once, keeps it in sessionStorage (this tab only) and sends it as `Authorization: Bearer`.
import { createHash } from 'node:crypto';

const STYLE = `
:root { color-scheme: light dark; --fg: #1d1f23; --muted: #5b6270; --line: #d8dce3; --bg: #fff; --card: #f6f7f9;
  --succeeded: #1f7a4d; --rejected: #9a6700; --conflict: #7b3fbf; --dead: #b42318; --submitted: #2457c5; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e8ec; --muted: #a0a7b4; --line: #353a44; --bg: #16181d; --card: #1e2127;
  --succeeded: #4cc38a; --rejected: #e0b341; --conflict: #b58cf0; --dead: #ff6b5e; --submitted: #7aa2ff; } }
* { box-sizing: border-box; }
body { margin: 0; padding: 20px 28px 40px; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; align-items: baseline; gap: 16px; flex-wrap: wrap; }
h1 { font-size: 20px; margin: 0; }
h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); margin: 22px 0 8px; }
.muted { color: var(--muted); }
.error { color: var(--dead); }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(128px, 1fr)); gap: 10px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
.card .value { font-size: 24px; font-weight: 650; font-variant-numeric: tabular-nums; }
.card .label { font-size: 12px; color: var(--muted); }
.row { display: grid; grid-template-columns: minmax(0, 2fr) minmax(260px, 1fr); gap: 20px; }
@media (max-width: 900px) { .row { grid-template-columns: 1fr; } }
svg { width: 100%; height: 220px; display: block; background: var(--card); border: 1px solid var(--line); border-radius: 8px; }
svg text { fill: var(--muted); font-size: 10px; }
.legend span { margin-right: 14px; white-space: nowrap; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; }
.s-succeeded { background: var(--succeeded); } .s-rejected { background: var(--rejected); } .s-conflict { background: var(--conflict); }
.s-dead { background: var(--dead); } .s-submitted { background: var(--submitted); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; border-bottom: 1px solid var(--line); padding: 5px 8px; font-variant-numeric: tabular-nums; }
th { font-size: 12px; color: var(--muted); font-weight: 600; }
td.num, th.num { text-align: right; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
button { font: inherit; padding: 3px 10px; border-radius: 5px; border: 1px solid var(--line); background: var(--card); color: var(--fg); cursor: pointer; }
button:disabled { opacity: .5; cursor: default; }
form#key-form { margin: 16px 0; padding: 14px; border: 1px solid var(--line); border-radius: 8px; background: var(--card); max-width: 560px; }
form#key-form input { font: inherit; width: 100%; padding: 6px 8px; margin: 6px 0 10px; border: 1px solid var(--line); border-radius: 5px; background: var(--bg); color: var(--fg); }
[hidden] { display: none !important; }
`;

const SCRIPT = `
const KEY = 'oncely.apiKey';
const OUTCOMES = ['succeeded', 'rejected', 'conflict', 'dead'];
const $ = (id) => document.getElementById(id);
let previous = null; // the last stats read, for the duplicate rates
let timer = null;

function key() { return sessionStorage.getItem(KEY); }
function headers() { const k = key(); return k ? { authorization: 'Bearer ' + k } : {}; }
function text(id, value) { const node = $(id); if (node.textContent !== String(value)) node.textContent = String(value); }
function fixed(n, digits) { return n === null || n === undefined ? '–' : Number(n).toFixed(digits); }
function duration(seconds) {
  if (seconds === null || seconds === undefined) return '–';
  if (seconds < 1) return Math.round(seconds * 1000) + ' ms';
  if (seconds < 120) return seconds.toFixed(1) + ' s';
  if (seconds < 7200) return (seconds / 60).toFixed(1) + ' min';
  return (seconds / 3600).toFixed(1) + ' h';
}
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

function askForKey(message) {
  $('key-form').hidden = false;
  $('key-message').textContent = message;
  $('key-input').focus();
}

async function refresh() {
  clearTimeout(timer);
  try {
    const res = await fetch('/v1/stats', { headers: headers(), cache: 'no-store' });
    if (res.status === 401) {
      const refused = key() !== null;
      sessionStorage.removeItem(KEY);
      askForKey(refused ? 'The key was refused; enter another.' : 'This server needs an API key.');
      text('updated', 'waiting for an API key');
      return;
    }
    if (!res.ok) throw new Error('GET /v1/stats answered ' + res.status);
    const stats = await res.json();
    $('key-form').hidden = true;
    render(stats);
    text('updated', 'updated ' + new Date(stats.at).toLocaleTimeString());
    $('updated').className = 'muted';
  } catch (err) {
    text('updated', 'could not read /v1/stats: ' + err.message + ' (retrying)');
    $('updated').className = 'error';
  } finally {
    if ($('key-form').hidden) timer = setTimeout(refresh, 2000);
  }
}

function render(stats) {
  text('completed-rate', fixed(stats.rates.completedPerSecond, 1));
  text('submitted-rate', fixed(stats.rates.submittedPerSecond, 1));
  text('queue-depth', stats.queue.depth);
  text('queue-detail', stats.queue.queued + ' queued, ' + stats.queue.retrying + ' retrying');
  text('oldest-queued', duration(stats.queue.oldestQueuedSeconds));
  text('p50', duration(stats.latency.p50));
  text('p90', duration(stats.latency.p90));
  text('p99', duration(stats.latency.p99));
  text('latency-count', stats.latency.count + ' ended in the last ' + stats.latency.windowSeconds + ' s');
  text('dead-count', stats.deadLetters.count);
  for (const outcome of OUTCOMES) text('outcome-' + outcome, stats.outcomes[outcome]);
  text('window', stats.windowSeconds / 60 + ' min');
  chart(stats);
  duplicates(stats);
  deadLetters(stats.deadLetters.newest);
  $('forget-key').hidden = key() === null;
  document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
  previous = stats;
}

// Stacked bars of outcomes per bucket, with the submissions as a line over them.
function chart(stats) {
  const svg = $('chart');
  const W = 720, H = 220, left = 40, right = 8, top = 10, bottom = 22;
  const buckets = stats.throughput;
  const perSecond = (n) => n / stats.bucketSeconds;
  const max = Math.max(1, ...buckets.map((b) => perSecond(Math.max(b.submitted, OUTCOMES.reduce((sum, o) => sum + b[o], 0)))));
  const y = (v) => top + (H - top - bottom) * (1 - v / max);
  const step = (W - left - right) / buckets.length;
  const ns = 'http://www.w3.org/2000/svg';
  const shape = (tag, attrs, content) => {
    const node = document.createElementNS(ns, tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
    if (content !== undefined) node.textContent = content;
    return node;
  };
  const nodes = [];
  for (const fraction of [0, 0.5, 1]) {
    const v = max * fraction;
    nodes.push(shape('line', { x1: left, x2: W - right, y1: y(v), y2: y(v), stroke: 'currentColor', 'stroke-opacity': 0.12 }));
    nodes.push(shape('text', { x: left - 4, y: y(v) + 3, 'text-anchor': 'end' }, v >= 10 ? v.toFixed(0) : v.toFixed(1)));
  }
  const colors = { succeeded: 'var(--succeeded)', rejected: 'var(--rejected)', conflict: 'var(--conflict)', dead: 'var(--dead)' };
  buckets.forEach((bucket, i) => {
    let base = 0;
    for (const outcome of OUTCOMES) {
      const v = perSecond(bucket[outcome]);
      if (v > 0) nodes.push(shape('rect', { x: left + i * step + 1, width: Math.max(1, step - 2), y: y(base + v), height: y(base) - y(base + v), fill: colors[outcome] }));
      base += v;
    }
  });
  const points = buckets.map((b, i) => (left + i * step + step / 2).toFixed(1) + ',' + y(perSecond(b.submitted)).toFixed(1)).join(' ');
  nodes.push(shape('polyline', { points, fill: 'none', stroke: 'var(--submitted)', 'stroke-width': 2 }));
  const labelEvery = Math.ceil(buckets.length / 6);
  buckets.forEach((b, i) => {
    if (i % labelEvery === 0) nodes.push(shape('text', { x: left + i * step, y: H - 6 }, new Date(b.at).toLocaleTimeString()));
  });
  nodes.push(shape('text', { x: left + 4, y: top + 10 }, 'per second'));
  svg.replaceChildren(...nodes);
}

function duplicates(stats) {
  const d = stats.duplicates;
  const seconds = previous ? (Date.parse(stats.at) - Date.parse(previous.at)) / 1000 : 0;
  const rows = Object.entries(d.byStage).map(([stage, total]) => {
    const before = previous && previous.duplicates.byStage[stage];
    const rate = seconds > 0 && before !== undefined ? Math.max(0, total - before) / seconds : null;
    return el('tr', { 'data-stage': stage }, el('td', {}, stage), el('td', { class: 'num' }, String(total)), el('td', { class: 'num' }, rate === null ? '–' : rate.toFixed(1)));
  });
  $('duplicates').replaceChildren(...rows);
  text('duplicates-note', d.counted
    ? 'This api process since it started' + (d.knownStages.length ? '; stages seen: ' + d.knownStages.join(', ') : '; none seen yet') + '.'
    : 'This process does not count duplicates (no oncely_duplicates_absorbed_total counter): shown as 0.');
}

function deadLetters(items) {
  $('dead-empty').hidden = items.length > 0;
  const rows = items.map((item) => {
    const button = el('button', { type: 'button', 'data-replay': item.id }, 'Replay');
    button.addEventListener('click', () => replay(item.id, button));
    return el('tr', { 'data-id': item.id },
      el('td', {}, el('code', {}, item.id)), el('td', {}, item.type), el('td', {}, item.entityId),
      el('td', {}, item.error ? item.error.code + ': ' + item.error.message : ''),
      el('td', { class: 'num' }, String(item.attempts)),
      el('td', {}, item.completedAt ? new Date(item.completedAt).toLocaleString() : ''),
      el('td', {}, button));
  });
  $('dead-letters').replaceChildren(...rows);
}

async function replay(id, button) {
  button.disabled = true;
  button.textContent = 'Replaying…';
  try {
    const res = await fetch('/v1/commands/' + encodeURIComponent(id) + '/replay', { method: 'POST', headers: headers() });
    const body = await res.json().catch(() => ({}));
    text('replay-message', res.status === 202 ? 'Replayed ' + id + ': queued again.' : 'Replay of ' + id + ' refused: ' + (body.detail || res.status));
    $('replay-message').className = res.status === 202 ? 'muted' : 'error';
  } catch (err) {
    text('replay-message', 'Replay of ' + id + ' failed: ' + err.message);
    $('replay-message').className = 'error';
  }
  refresh();
}

$('key-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const value = $('key-input').value.trim();
  if (!value) return;
  sessionStorage.setItem(KEY, value);
  $('key-input').value = '';
  $('key-form').hidden = true;
  refresh();
});
$('forget-key').addEventListener('click', () => { sessionStorage.removeItem(KEY); location.reload(); });
refresh();
`;

const BODY = `
<header>
  <h1>oncely</h1>
  <span id="updated" class="muted">loading…</span>
  <button type="button" id="forget-key" hidden>Forget key</button>
</header>
<form id="key-form" hidden>
  <strong id="key-message"></strong>
  <label for="key-input" class="muted">API key (kept in this tab only, sent as <code>Authorization: Bearer</code>)</label>
  <input id="key-input" name="key" type="password" autocomplete="off" spellcheck="false">
  <button type="submit">Use this key</button>
</form>
<h2>Now</h2>
<div class="cards">
  <div class="card"><div class="value" id="completed-rate">–</div><div class="label">completed / s (last 10 s)</div></div>
  <div class="card"><div class="value" id="submitted-rate">–</div><div class="label">submitted / s (last 10 s)</div></div>
  <div class="card"><div class="value" id="queue-depth">–</div><div class="label">queue depth: <span id="queue-detail"></span></div></div>
  <div class="card"><div class="value" id="oldest-queued">–</div><div class="label">oldest queued command's age</div></div>
  <div class="card"><div class="value" id="p50">–</div><div class="label">p50 submit → terminal</div></div>
  <div class="card"><div class="value" id="p90">–</div><div class="label">p90 submit → terminal</div></div>
  <div class="card"><div class="value" id="p99">–</div><div class="label">p99 submit → terminal</div></div>
  <div class="card"><div class="value" id="dead-count">–</div><div class="label">dead letters (all clients)</div></div>
</div>
<p class="muted" id="latency-count"></p>
<div class="row">
  <section>
    <h2>Throughput and outcomes, last <span id="window"></span></h2>
    <svg id="chart" viewBox="0 0 720 220" preserveAspectRatio="none" role="img" aria-label="commands per second by outcome"></svg>
    <p class="legend muted"><span><i class="swatch s-submitted"></i>submitted</span><span><i class="swatch s-succeeded"></i>succeeded</span><span><i class="swatch s-rejected"></i>rejected</span><span><i class="swatch s-conflict"></i>conflict</span><span><i class="swatch s-dead"></i>dead</span></p>
  </section>
  <section>
    <h2>Outcomes in the window</h2>
    <table><tbody>
      <tr><td><i class="swatch s-succeeded"></i>succeeded</td><td class="num" id="outcome-succeeded">–</td></tr>
      <tr><td><i class="swatch s-rejected"></i>rejected</td><td class="num" id="outcome-rejected">–</td></tr>
      <tr><td><i class="swatch s-conflict"></i>conflict</td><td class="num" id="outcome-conflict">–</td></tr>
      <tr><td><i class="swatch s-dead"></i>dead</td><td class="num" id="outcome-dead">–</td></tr>
    </tbody></table>
    <h2>Duplicates absorbed</h2>
    <table><thead><tr><th>stage</th><th class="num">total</th><th class="num">per s</th></tr></thead><tbody id="duplicates"></tbody></table>
    <p class="muted" id="duplicates-note"></p>
  </section>
</div>
<h2>Dead letters (newest, yours)</h2>
<p id="replay-message" class="muted"></p>
<table>
  <thead><tr><th>id</th><th>type</th><th>entity</th><th>error</th><th class="num">attempts</th><th>died</th><th></th></tr></thead>
  <tbody id="dead-letters"></tbody>
</table>
<p id="dead-empty" class="muted">No dead letters.</p>
`;

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/** Only this page's own script and style; data from the same origin; nothing else. */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The HTML of `/dashboard`. */
export const DASHBOARD_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>oncely dashboard</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>${BODY}<noscript>This page needs JavaScript; the figures are at /v1/stats.</noscript>
<script>${SCRIPT}</script>
</body>
</html>`;
