// Signpost operations page. Plain script, no build step, no third-party code.
//
// The live feed reads audit's server-sent events with fetch() and a stream
// reader, because EventSource cannot send the bearer token. The queues are
// reloaded when the feed shows an event that changes them, rather than on a
// timer, so the page does not flood the audit log with its own reads.
"use strict";

const TOKEN_KEY = "signpost.operations.token";
const FEED_LIMIT = 300;
const LAG_EVERY_MS = 5000;
const QUEUE_TRIGGERS = {
  unroutable: ["referral.unroutable", "referral.routed", "assignment.delivered", "referral.cancelled"],
  escalations: ["referral.escalated"],
  "dead-letters": ["event.dead_lettered", "dead_letter.replayed"],
};

const $ = (id) => document.getElementById(id);
let session = null; // {token, abort, lastEventId, lagTimer}
// The feed's resume point across sign-ins: the stream ends when its token expires, and the next token
// carries on from the last event shown rather than from the log's end.
let resumeFrom = null;

// ---- small helpers ---------------------------------------------------------

function cell(row, content, className) {
  const td = row.insertCell();
  if (content instanceof Node) td.append(content);
  else td.textContent = content == null || content === "" ? "—" : String(content);
  if (className) td.className = className;
  return td;
}

function code(text) {
  if (!text) return "—";
  const el = document.createElement("code");
  el.textContent = text;
  return el;
}

function when(iso) {
  if (!iso) return "—";
  const el = document.createElement("time");
  el.dateTime = iso;
  const d = new Date(iso);
  el.textContent = d.toLocaleTimeString("en-GB");
  el.title = d.toLocaleString("en-GB");
  return el;
}

function setStatus(state, text) {
  const status = $("connection");
  status.dataset.state = state;
  status.textContent = text;
}

function emptyRow(tbody, columns, text) {
  const row = tbody.insertRow();
  const td = cell(row, text, "empty");
  td.colSpan = columns;
}

class AuthError extends Error {}

async function api(path) {
  const response = await fetch(path, {
    headers: { Authorization: `Bearer ${session.token}`, Accept: "application/json" },
    signal: session.abort.signal,
  });
  if (response.status === 401 || response.status === 403) {
    const body = await response.json().catch(() => ({}));
    throw new AuthError(body.detail || `refused (${response.status})`);
  }
  if (!response.ok) throw new Error(`${path} answered ${response.status}`);
  return response.json();
}

function refused(error) {
  if (!(error instanceof AuthError)) return false;
  const resume = session && session.lastEventId ? ` The feed will carry on after event #${session.lastEventId}.` : "";
  disconnect(`The token was refused: ${error.message}. Paste a new one.${resume}`);
  return true;
}

// ---- live feed: server-sent events over fetch ------------------------------

// Parse an SSE byte stream into {id, event, data} messages (WHATWG rules, minus retry); data is null for id-only ones.
async function* sseMessages(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let message = { id: null, event: "message", data: [] };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    const lines = buffer.split(/\r\n|\r|\n/);
    buffer = lines.pop();
    for (const line of lines) {
      if (line === "") {
        // A message with an id and no data moves the resume point without showing anything (the stream's start).
        if (message.data.length || message.id !== null) {
          yield { ...message, data: message.data.length ? message.data.join("\n") : null };
        }
        message = { id: null, event: "message", data: [] };
        continue;
      }
      if (line.startsWith(":")) continue; // comment / keep-alive ping
      const colon = line.indexOf(":");
      const field = colon === -1 ? line : line.slice(0, colon);
      let val = colon === -1 ? "" : line.slice(colon + 1);
      if (val.startsWith(" ")) val = val.slice(1);
      if (field === "data") message.data.push(val);
      else if (field === "id") message.id = val;
      else if (field === "event") message.event = val;
    }
  }
}

async function follow() {
  let delay = 1000;
  while (session && !session.abort.signal.aborted) {
    try {
      const headers = { Authorization: `Bearer ${session.token}`, Accept: "text/event-stream" };
      if (session.lastEventId) headers["Last-Event-ID"] = session.lastEventId;
      const response = await fetch("/v1/audit/stream", { headers, signal: session.abort.signal, cache: "no-store" });
      if (response.status === 401 || response.status === 403) {
        const body = await response.json().catch(() => ({}));
        throw new AuthError(body.detail || `refused (${response.status})`);
      }
      if (response.status === 429) {
        // Over this client's stream cap (another tab, say): wait as long as the service asks.
        delay = Math.max(delay, 1000 * (Number(response.headers.get("Retry-After")) || 1));
        throw new Error("too many live streams for this token");
      }
      if (!response.ok || !response.body) throw new Error(`stream answered ${response.status}`);
      setStatus("live", "Live: following the audit log");
      delay = 1000;
      for await (const message of sseMessages(response.body)) {
        if (message.id) session.lastEventId = message.id;
        if (message.data !== null) showEvent(JSON.parse(message.data));
      }
      throw new Error("stream ended");
    } catch (error) {
      if (!session || session.abort.signal.aborted || refused(error)) return;
      setStatus("retrying", `Feed interrupted (${error.message}); reconnecting in ${delay / 1000}s`);
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 15000);
    }
  }
}

function showEvent(event) {
  const tbody = $("feed").tBodies[0];
  const row = tbody.insertRow(0);
  row.dataset.referralId = event.referral_id || "";
  row.dataset.eventType = event.event_type;
  cell(row, event.seq, "num");
  cell(row, when(event.recorded_at));
  cell(row, event.event_type, "event");
  cell(row, code(event.referral_id));
  cell(row, event.agency_id);
  cell(row, event.topic, "topic");
  row.hidden = !matchesFilter(row);
  while (tbody.rows.length > FEED_LIMIT) tbody.deleteRow(-1);
  for (const [queue, types] of Object.entries(QUEUE_TRIGGERS)) {
    if (types.includes(event.event_type)) scheduleQueue(queue);
  }
}

function matchesFilter(row) {
  const wanted = $("feed-filter").value.trim().toLowerCase();
  return !wanted || row.textContent.toLowerCase().includes(wanted);
}

// ---- queues ----------------------------------------------------------------

const QUEUES = {
  unroutable: {
    columns: 4,
    empty: "Nothing waiting: every referral has been routed.",
    render: (row, item) => {
      cell(row, when(item.recorded_at));
      cell(row, code(item.referral_id));
      cell(row, item.reason);
      cell(row, assignForm(item.referral_id));
    },
  },
  escalations: {
    columns: 4,
    empty: "No SLA breaches recorded.",
    render: (row, item) => {
      cell(row, when(item.recorded_at));
      cell(row, code(item.referral_id));
      cell(row, item.agency_id);
      cell(row, item.reason);
    },
  },
  "dead-letters": {
    columns: 5,
    empty: "No dead letters.",
    render: (row, item) => {
      row.dataset.deadLetterId = item.dead_letter_id || "";
      cell(row, when(item.recorded_at));
      cell(row, item.consumer);
      const where = cell(row, code(item.original_topic));
      where.append(document.createElement("br"), `partition ${item.original_partition ?? "?"}, offset ${item.original_offset ?? "?"}`);
      const reason = cell(row, item.reason);
      if (item.replay_of) reason.append(document.createElement("br"), `(a replay of dead letter ${item.replay_of}, refused again)`);
      cell(row, item.dead_letter_id ? replayControl(item) : "—");
    },
  },
};
const pending = {};

function scheduleQueue(name) {
  // Several events in a burst cause one reload.
  clearTimeout(pending[name]);
  pending[name] = setTimeout(() => loadQueue(name), 400);
}

async function loadQueue(name) {
  const spec = QUEUES[name];
  try {
    const { items } = await api(`/v1/operations/${name}?limit=200`);
    const tbody = $(name).tBodies[0];
    tbody.replaceChildren();
    for (const item of items) spec.render(tbody.insertRow(), item);
    if (!items.length) emptyRow(tbody, spec.columns, spec.empty);
    $(`${name}-count`).textContent = `(${items.length}${items.length === 200 ? "+" : ""})`;
  } catch (error) {
    if (session && !session.abort.signal.aborted && !refused(error)) {
      $(`${name}-count`).textContent = "(could not load)";
    }
  }
}

// ---- hand assignment -------------------------------------------------------

// The router makes the assignment (via audit, same origin) and records who did it and why.
function assignForm(referralId) {
  const form = document.createElement("form");
  form.className = "assign";
  const service = Object.assign(document.createElement("input"), {
    name: "service_id", required: true, placeholder: "service id", pattern: "[a-z0-9][a-z0-9\\-]{1,62}", // the pattern attribute compiles with /v, where a bare "-" is refused
  });
  service.setAttribute("aria-label", "service id to assign to");
  const reason = Object.assign(document.createElement("input"), { name: "reason", required: true, minLength: 3, placeholder: "why" });
  reason.setAttribute("aria-label", "reason for the assignment");
  const button = Object.assign(document.createElement("button"), { type: "submit", textContent: "Assign" });
  const result = Object.assign(document.createElement("span"), { className: "result" });
  result.setAttribute("role", "status");
  form.append(service, reason, button, result);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    try {
      const response = await fetch(`/v1/operations/unroutable/${encodeURIComponent(referralId)}/assign`, {
        method: "POST",
        headers: { Authorization: `Bearer ${session.token}`, "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ service_id: service.value, reason: reason.value }),
      });
      const body = await response.json().catch(() => ({}));
      result.textContent = response.ok ? `assigned to ${body.assignment.agency_id}` : `refused: ${body.detail || response.status}`;
    } catch (error) {
      result.textContent = `failed: ${error.message}`;
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

// ---- dead-letter replay ----------------------------------------------------

function replayedText(status, replayed) {
  status.replaceChildren("replayed ", when(replayed.at), ` by ${replayed.by || "?"}`);
  if (replayed.replay > 1) status.append(` (${replayed.replay} times)`);
}

// The notifier keeps dead letters and replays them (via audit, same origin); it records who asked. A record
// already put back is sent again only on "Replay again": consumers drop what they have already handled.
function replayControl(item) {
  const box = Object.assign(document.createElement("div"), { className: "replay" });
  const again = Boolean(item.replayed);
  const button = Object.assign(document.createElement("button"), { type: "button", textContent: again ? "Replay again" : "Replay" });
  const status = Object.assign(document.createElement("span"), { className: "result" });
  status.setAttribute("role", "status");
  if (item.replayed) replayedText(status, item.replayed);
  button.addEventListener("click", async () => {
    button.disabled = true;
    status.textContent = "replaying…";
    try {
      const url = `/v1/operations/dead-letters/${encodeURIComponent(item.dead_letter_id)}/replay?force=${again}`;
      const response = await fetch(url, {
        method: "POST",
        headers: { Authorization: `Bearer ${session.token}`, Accept: "application/json" },
      });
      const body = await response.json().catch(() => ({}));
      if (response.ok) replayedText(status, { at: body.replayed_at, by: body.replayed_by, replay: body.replays });
      else status.textContent = `refused: ${body.detail || response.status}`;
    } catch (error) {
      status.textContent = `failed: ${error.message}`;
    } finally {
      button.disabled = false;
    }
  });
  box.append(button, status);
  return box;
}

// ---- consumer lag ----------------------------------------------------------

async function loadLag() {
  try {
    const { groups } = await api("/v1/operations/consumer-lag");
    const tbody = $("lag").tBodies[0];
    tbody.replaceChildren();
    for (const group of groups) {
      for (const [i, subject] of group.subjects.entries()) {
        const row = tbody.insertRow();
        row.dataset.groupId = group.group_id;
        if (i === 0) {
          const th = document.createElement("th");
          th.scope = "rowgroup";
          th.rowSpan = group.subjects.length;
          th.textContent = `${group.group_id} (total ${group.lag})`;
          row.append(th);
        }
        cell(row, subject.kind === "agency" ? `agency ${subject.name}` : subject.name);
        cell(row, subject.lag, subject.lag > 0 ? "num behind" : "num");
      }
    }
    if (!groups.length) emptyRow(tbody, 3, "No consumer groups have committed offsets yet.");
    $("lag-updated").textContent = `Updated ${new Date().toLocaleTimeString("en-GB")}.`;
  } catch (error) {
    if (session && !session.abort.signal.aborted && !refused(error)) {
      $("lag-updated").textContent = `Could not read lag (${error.message}); retrying.`;
    }
  }
}

// ---- weekly report ---------------------------------------------------------

const SVG = "http://www.w3.org/2000/svg";
const REPORT_WEEKS = 4;

function svg(name, attributes) {
  const el = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) el.setAttribute(key, String(value));
  return el;
}

// Grouped bars: weeks along the axis, one bar per series; every label set as text, never as markup.
function drawChart(chart) {
  const width = 720, height = 220, left = 40, bottom = 40, top = 10;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", class: "chart" });
  const scale = chart.max_value || 1;
  const groupWidth = (width - left) / Math.max(chart.labels.length, 1);
  const barWidth = Math.max(4, (groupWidth - 12) / Math.max(chart.series.length, 1));
  chart.labels.forEach((label, week) => {
    chart.series.forEach((series, index) => {
      const value = series.values[week];
      const barHeight = ((height - bottom - top) * value) / scale;
      const bar = svg("rect", {
        x: left + week * groupWidth + 6 + index * barWidth, y: height - bottom - barHeight,
        width: barWidth - 2, height: barHeight, class: `bar series-${index % 8}`,
      });
      bar.dataset.series = series.name;
      bar.dataset.value = value;
      const title = svg("title", {});
      title.textContent = `${label} · ${series.label || series.name}: ${value}`;
      bar.append(title);
      root.append(bar);
    });
    const text = svg("text", { x: left + week * groupWidth + groupWidth / 2, y: height - bottom + 16, "text-anchor": "middle" });
    text.textContent = label;
    root.append(text);
  });
  const axis = svg("text", { x: 4, y: top + 10 });
  axis.textContent = String(chart.max_value);
  root.append(axis);
  return root;
}

function figure(list, term, value) {
  const dt = document.createElement("dt");
  dt.textContent = term;
  const dd = document.createElement("dd");
  dd.textContent = value == null ? "—" : String(value);
  list.append(dt, dd);
}

// The legend: each series' colour, name and count in the chosen (last) week.
function legend(caption, chart) {
  caption.replaceChildren(`${chart.title}: `);
  if (!chart.series.length) caption.append("none");
  chart.series.forEach((series, index) => {
    const swatch = svg("svg", { width: 10, height: 10, class: "chart swatch" });
    swatch.append(svg("rect", { width: 10, height: 10, class: `bar series-${index % 8}` }));
    caption.append(swatch, ` ${series.label || series.name} ${series.values[series.values.length - 1]} `);
  });
}

// The chosen week (empty: audit's current week) and the weeks before it, and the chosen area (empty: every area),
// for the charts and the CSV alike.
function reportQuery() {
  const week = $("report-week-input").value;
  const area = $("report-area").value;
  return `weeks=${REPORT_WEEKS}` + (week ? `&week=${encodeURIComponent(week)}` : "") +
    (area ? `&area=${encodeURIComponent(area)}` : "");
}

// The areas audit knows (its area files), offered once; the choice is kept across refreshes.
function offerAreas(areas) {
  const select = $("report-area");
  if (select.options.length > 1) return;
  for (const area of areas || []) select.append(new Option(area.charAt(0).toUpperCase() + area.slice(1), area));
}

// A chart and its legend, with the chart's title (in the area's words) as what a screen reader hears.
function showChart(id, chart) {
  const holder = $(id);
  holder.replaceChildren(drawChart(chart));
  holder.setAttribute("aria-label", `${chart.title}, per week`);
  legend($(id.replace("-chart", "-caption")), chart);
}

// Each load is numbered, and only the latest one is drawn: a refresh answered after the week was changed must not
// paint the old week over the new one.
let reportLoads = 0;

// Counted on the week label, so anyone (a test included) can see a late answer was set aside.
function discarded() {
  const label = $("report-week");
  label.dataset.discarded = String(Number(label.dataset.discarded || 0) + 1);
}

async function loadReport() {
  const load = ++reportLoads;
  try {
    const body = await api(`/v1/reports/weekly?${reportQuery()}`);
    if (load !== reportLoads) return discarded();
    offerAreas(body.areas);
    const latest = body.weeks[body.weeks.length - 1];
    $("report-week").textContent = `(${body.weeks[0].week} to ${latest.week})`;
    if (!$("report-week-input").value) $("report-week-input").value = latest.week;
    const headline = $("report-headline");
    headline.replaceChildren();
    figure(headline, `Referrals in ${latest.week}`, latest.referrals);
    figure(headline, "Assignments", latest.assignments);
    figure(headline, "Acceptance rate", latest.acceptance_rate == null ? null : `${Math.round(latest.acceptance_rate * 100)}%`);
    figure(headline, "Median hours to contact", latest.median_hours_to_contact?.toFixed(1));
    figure(headline, "Median hours to completion", latest.median_hours_to_completion?.toFixed(1));
    figure(headline, "Escalations", latest.escalations);
    showChart("report-chart", body.charts.service_type);
    showChart("report-network-chart", body.charts.network);
    showChart("report-outcome-chart", body.charts.outcome);
  } catch (error) {
    if (load !== reportLoads) return discarded();
    if (session && !session.abort.signal.aborted && !refused(error)) $("report-week").textContent = "(could not load)";
  }
}

// A plain link cannot carry the bearer token, so the CSV is fetched and handed to the browser as a download.
async function downloadCsv() {
  const response = await fetch(`/v1/reports/weekly.csv?${reportQuery()}`, {
    headers: { Authorization: `Bearer ${session.token}` }, signal: session.abort.signal,
  });
  if (!response.ok) return;
  const name = /filename="([^"]+)"/.exec(response.headers.get("content-disposition") || "")?.[1] || "signpost-weekly.csv";
  const link = Object.assign(document.createElement("a"), { href: URL.createObjectURL(await response.blob()), download: name });
  link.click();
  URL.revokeObjectURL(link.href);
}

// ---- session ---------------------------------------------------------------

function connect(token) {
  disconnect();
  sessionStorage.setItem(TOKEN_KEY, token);
  session = { token, abort: new AbortController(), lastEventId: resumeFrom, lagTimer: null };
  $("sign-in").hidden = true;
  $("token-error").hidden = true;
  $("console").hidden = false;
  setStatus("connecting", "Connecting…");
  follow();
  for (const name of Object.keys(QUEUES)) loadQueue(name);
  loadLag();
  loadReport();
  session.lagTimer = setInterval(loadLag, LAG_EVERY_MS);
}

function disconnect(error) {
  if (session) {
    resumeFrom = session.lastEventId;
    session.abort.abort();
    clearInterval(session.lagTimer);
    session = null;
  }
  if (error) {
    sessionStorage.removeItem(TOKEN_KEY);
    $("token-error").textContent = error;
    $("token-error").hidden = false;
  }
  $("console").hidden = true;
  $("sign-in").hidden = false;
  setStatus("idle", "Not connected");
}

document.addEventListener("DOMContentLoaded", () => {
  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const token = $("token").value.trim();
    $("token").value = "";
    if (token) connect(token);
  });
  $("report-refresh").addEventListener("click", () => loadReport());
  $("report-week-input").addEventListener("change", () => loadReport());
  $("report-area").addEventListener("change", () => loadReport());
  $("report-csv").addEventListener("click", () => downloadCsv());
  $("forget").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    disconnect();
    $("token").focus();
  });
  $("feed-filter").addEventListener("input", () => {
    for (const row of $("feed").tBodies[0].rows) row.hidden = !matchesFilter(row);
  });
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) connect(saved);
});
