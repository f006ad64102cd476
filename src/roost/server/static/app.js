// roost dashboard: keeps the server-rendered pages live through /api/v1 (same-origin, cookie
// login; every state-changing request carries the page's CSRF token). Text from machines is
// only ever set as textContent, never as HTML.
"use strict";

const CSRF = document.querySelector('meta[name="csrf-token"]').content;
const PAGE = document.body.dataset.page;
const MACHINE = document.body.dataset.machine;

async function api(path, options = {}) {
  const headers = { "Accept": "application/json" };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if ((options.method || "GET") !== "GET") headers["X-CSRF-Token"] = CSRF;
  const response = await fetch("/api/v1" + path, {
    method: options.method || "GET", headers, credentials: "same-origin",
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function flash(message, bad = false) {
  const box = document.getElementById("flash");
  box.textContent = message;
  box.className = "flash" + (bad ? " bad" : "");
  box.hidden = false;
}

function cell(row, text, className) {
  const td = row.insertCell();
  if (text instanceof Node) td.appendChild(text); else td.textContent = text === null || text === undefined ? "-" : String(text);
  if (className) td.className = className;
  return td;
}

function link(href, text) { const a = document.createElement("a"); a.href = href; a.textContent = text; return a; }
function pill(text, kind) { const s = document.createElement("span"); s.className = "pill " + kind; s.textContent = text; return s; }
function when(at) { return at ? new Date(at * 1000).toLocaleString() : "-"; }
function usd(value) { return "$" + (value || 0).toFixed(2); }

function fill(tableId, items, draw, emptyText) {
  const body = document.querySelector("#" + tableId + " tbody");
  body.replaceChildren();
  if (!items.length) { const row = body.insertRow(); row.className = "empty"; cell(row, emptyText).colSpan = 12; }
  for (const item of items) draw(body.insertRow(), item);
}

function every(seconds, refresh) {
  const run = () => refresh().catch((error) => flash(error.message, true));
  run();
  setInterval(run, seconds * 1000);
}

// ---- machines ----
function countdown(at) {
  if (!at) return "-";
  const left = Math.max(0, at - Date.now() / 1000);
  return left < 60 ? Math.round(left) + "s" : Math.floor(left / 60) + "m " + Math.round(left % 60) + "s";
}

async function act(name, what) {
  if (what === "down") {
    const typed = window.prompt("Taking '" + name + "' down deletes it. Type its name to confirm:");
    if (typed !== name) { flash("down cancelled: the name did not match"); return; }
  }
  flash(what + " " + name + " …");
  const path = "/machines/" + encodeURIComponent(name);
  try {
    if (what === "down") await api(path, { method: "DELETE" }); else await api(path + "/" + what, { method: "POST" });
    flash(name + ": " + what + " done");
  } catch (error) { flash(name + ": " + error.message, true); }
  await refreshMachines();
}

async function refreshMachines() {
  const machines = await api("/machines");
  const costs = machines.some((m) => m.hourly_usd) ? await api("/costs") : { machines: [] };
  const spent = Object.fromEntries(costs.machines.map((c) => [c.name, c.spend_usd]));
  fill("machines", machines, (row, m) => {
    row.dataset.name = m.name;
    cell(row, link((m.service ? "/services/" : "/machines/") + encodeURIComponent(m.name), m.name));
    cell(row, m.backend); cell(row, m.instance_type);
    cell(row, pill(m.state, m.state), "state");
    cell(row, m.app);
    cell(row, m.app ? pill(m.healthy ? "healthy" : "not healthy", m.healthy ? "ok" : "bad") : "-", "health");
    if (m.url) { const a = link(m.url, "open"); a.target = "_blank"; a.rel = "noopener"; a.className = "open"; cell(row, a); } else cell(row, "-");
    cell(row, m.gpus, "num"); cell(row, usd(m.hourly_usd), "num"); cell(row, usd(spent[m.name]), "num");
    const stop = cell(row, countdown(m.autostop_at), "autostop"); stop.dataset.at = m.autostop_at || "";
    const actions = cell(row, "", "actions");
    for (const what of ["stop", "start", "down"]) {
      const button = document.createElement("button");
      button.textContent = what; button.dataset.act = what;
      if (what === "down") button.className = "danger";
      actions.appendChild(button);
    }
  }, "no machines yet: `roost up jupyter` makes one");
  document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
}

function initMachines() {
  document.getElementById("machines").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-act]");
    if (button) act(button.closest("tr").dataset.name, button.dataset.act);
  });
  setInterval(() => document.querySelectorAll("td.autostop").forEach((td) => { td.textContent = countdown(parseFloat(td.dataset.at)); }), 1000);
  every(3, refreshMachines);
}

// ---- one machine ----
function jobRow(machine) {
  return (row, j) => {
    cell(row, link("/machines/" + encodeURIComponent(machine) + "/jobs/" + j.id, j.id));
    cell(row, pill(j.state, j.state)); cell(row, j.exit_code); cell(row, j.command, "command"); cell(row, when(j.started_at));
  };
}

function initMachine() {
  const base = "/machines/" + encodeURIComponent(MACHINE);
  every(2, async () => {
    const log = await api(base + "/log?lines=200").catch((error) => ({ text: "(" + error.message + ")" }));
    const pre = document.getElementById("app-log");
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.textContent = log.text;
    if (atEnd) pre.scrollTop = pre.scrollHeight;
  });
  every(5, async () => {
    const [jobs, events] = await Promise.all([api(base + "/jobs").catch(() => []), api("/events?machine=" + encodeURIComponent(MACHINE))]);
    fill("jobs", jobs.slice().reverse(), jobRow(MACHINE), "no jobs");
    fill("events", events, (row, e) => { cell(row, when(e.at)); cell(row, e.kind); cell(row, e.message); }, "no events yet");
  });
  const backups = async () => fill("backups", (await api(base + "/backups").catch(() => [])).slice().reverse(),
    (row, b) => { cell(row, b.id); cell(row, b.kind); cell(row, when(b.created_at)); cell(row, b.annotations, "num"); cell(row, b.bytes, "num"); },
    "no backups");
  backups();
  api(base + "/users").then((users) => {
    const list = document.getElementById("users");
    for (const user of users) { const li = document.createElement("li"); li.textContent = user; list.appendChild(li); }
    if (!users.length) list.textContent = "none";
  }).catch(() => { document.getElementById("users").textContent = "not shared"; });
  document.getElementById("take-backup").addEventListener("click", async () => {
    flash("taking a backup …");
    try { const b = await api(base + "/backups", { method: "POST" }); flash("backup " + b.id + " taken"); await backups(); }
    catch (error) { flash(error.message, true); }
  });
}

// ---- jobs ----
function initJobs() {
  every(5, async () => {
    fill("all-jobs", await api("/jobs"), (row, mj) => {
      cell(row, link("/machines/" + encodeURIComponent(mj.machine), mj.machine));
      cell(row, link("/machines/" + encodeURIComponent(mj.machine) + "/jobs/" + mj.job.id, mj.job.id));
      cell(row, pill(mj.job.state, mj.job.state)); cell(row, mj.job.exit_code); cell(row, mj.job.command, "command");
      cell(row, when(mj.job.submitted_at));
    }, "no jobs on running machines");
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
  });
}

function initJob() {
  const job = document.body.dataset.job;
  const base = "/machines/" + encodeURIComponent(MACHINE) + "/jobs/" + encodeURIComponent(job);
  const pre = document.getElementById("job-log");
  const state = document.getElementById("job-state");
  const showState = async () => {
    const found = (await api("/machines/" + encodeURIComponent(MACHINE) + "/jobs")).find((j) => j.id === job);
    if (found) { state.textContent = found.state + (found.exit_code === null ? "" : " (exit " + found.exit_code + ")"); state.className = "pill " + found.state; }
  };
  const stream = new EventSource("/api/v1" + base + "/log/stream");
  stream.onmessage = (event) => { pre.textContent += JSON.parse(event.data).text; pre.scrollTop = pre.scrollHeight; };
  stream.addEventListener("end", () => { stream.close(); showState(); });
  stream.addEventListener("error", () => showState());
  showState();
  setInterval(showState, 3000);
  document.getElementById("cancel").addEventListener("click", async () => {
    try { const r = await api(base + "/cancel", { method: "POST" }); flash(r.cancelled ? "job cancelled" : "the job had already ended"); }
    catch (error) { flash(error.message, true); }
    await showState();
  });
  document.getElementById("outputs").addEventListener("click", async () => {
    try { const r = await api(base + "/outputs", { method: "POST" }); document.getElementById("outputs-result").textContent = "in " + r.outputs; }
    catch (error) { flash(error.message, true); }
  });
}

// ---- charts (uPlot) ----
const COLORS = ["#2563eb", "#db2777", "#16a34a", "#ea580c", "#7c3aed", "#0891b2", "#ca8a04", "#4b5563"];

function chart(elementId, xs, series, options = {}) {
  // options.labels: a category axis (one label per x = 0, 1, 2, ...), drawn as bars
  const element = document.getElementById(elementId);
  element.replaceChildren();
  const width = Math.max(320, element.clientWidth || 480);
  const labels = options.labels;
  const bars = labels ? uPlot.paths.bars({ size: [0.6, 60] }) : undefined;
  if (labels) {
    // stacked bars: each series drawn at the running total, the tallest first, the legend shows its own value
    let total = xs.map(() => 0);
    series = series.map((s) => {
      total = total.map((t, i) => t + (s.values[i] || 0));
      return { ...s, own: s.values, values: total };
    }).reverse();
  }
  const opts = {
    width, height: options.height || 220,
    series: [{ label: labels ? "day" : "time", value: labels ? (u, i) => labels[i] ?? "" : undefined },
      ...series.map((s, i) => ({ label: s.label, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: true,
        fill: labels ? COLORS[i % COLORS.length] : undefined, paths: bars, points: { show: !labels, size: 5 },
        value: s.own ? (u, v, si, i) => (i === null || i === undefined ? "--" : usd(s.own[i])) : undefined }))],
    axes: [labels ? { splits: () => labels.map((_, i) => i), values: (u, splits) => splits.map((i) => labels[i] ?? "") } : {},
      { size: 60 }],
    scales: {
      x: labels ? { time: false, range: () => [-0.5, labels.length - 0.5] } : { time: true },
      y: { range: (u, min, max) => [0, Math.max(max || 0, 0.01) * 1.15] },
    },
  };
  element.dataset.points = String(xs.length);
  return new uPlot(opts, [xs, ...series.map((s) => s.values)], element);
}

function initService() {
  const base = "/services/" + encodeURIComponent(MACHINE);
  every(5, async () => {
    const [now, history] = await Promise.all([api(base), api(base + "/history")]);
    fill("replicas", now.replicas, (row, r) => {
      cell(row, r.name); cell(row, r.machine); cell(row, pill(r.state, r.state));
      cell(row, pill(r.healthy ? "healthy" : "not healthy", r.healthy ? "ok" : "bad")); cell(row, r.restarts, "num");
      cell(row, r.requests_per_second?.toFixed(2), "num"); cell(row, r.errors_per_second?.toFixed(2), "num"); cell(row, r.mean_ms?.toFixed(1), "num");
    }, "no replicas");
    fill("service-events", (now.events || []).slice().reverse(), (row, e) => {
      cell(row, when(e.at)); cell(row, e.event); cell(row, e.replica);
      cell(row, Object.entries(e).filter(([k]) => !["at", "event", "replica"].includes(k)).map(([k, v]) => k + "=" + v).join(" "));
    }, "no events");
    const names = [...new Set(history.flatMap((p) => p.replicas.map((r) => r.replica)))];
    const times = history.map((p) => p.at);
    const of = (field) => names.map((name) => ({ label: name, values: history.map((p) => (p.replicas.find((r) => r.replica === name) || {})[field] ?? null) }));
    chart("chart-rps", times, of("requests_per_second"));
    chart("chart-errors", times, of("errors_per_second"));
    chart("chart-latency", times, of("mean_ms"));
  });
}

// ---- costs ----
function initCosts() {
  every(30, async () => {
    const costs = await api("/costs");
    document.getElementById("hourly-now").textContent = usd(costs.hourly_usd_now);
    fill("costs", costs.machines, (row, c) => {
      cell(row, c.name); cell(row, c.backend); cell(row, c.instance_type); cell(row, pill(c.state, c.state));
      cell(row, usd(c.hourly_usd), "num"); cell(row, c.hours.toFixed(2), "num"); cell(row, usd(c.spend_usd), "num");
    }, "no machines");
    const today = new Date().toISOString().slice(0, 10);
    const days = [...new Set([...costs.days.map((d) => d.day), today])].sort();
    const machines = [...new Set([...costs.days.map((d) => d.machine), ...costs.machines.map((c) => c.name)])];
    const series = machines.map((name) => ({ label: name,
      values: days.map((day) => (costs.days.find((d) => d.day === day && d.machine === name) || { day_usd: 0 }).day_usd) }));
    chart("chart-spend", days.map((_, i) => i), series.length ? series : [{ label: "total", values: days.map(() => 0) }],
      { labels: days, height: 260 });
  });
}

// ---- offers ----
function initOffers() {
  const form = document.getElementById("offers-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const query = new URLSearchParams();
    for (const key of ["gpu", "cpus", "memory", "region"]) if (form.elements[key].value) query.set(key, form.elements[key].value);
    if (form.elements.spot.checked) query.set("spot", "true");
    try {
      fill("offers", await api("/offers?" + query), (row, o) => {
        cell(row, o.instance_type); cell(row, o.region); cell(row, o.vcpus, "num"); cell(row, o.memory_gib, "num");
        cell(row, o.accelerator ? o.accelerator_count + "× " + o.accelerator : "-");
        cell(row, form.elements.spot.checked && o.spot_price !== null ? "yes" : "no");
        cell(row, usd(form.elements.spot.checked && o.spot_price !== null ? o.spot_price : o.price), "num");
      }, "no offer fits");
    } catch (error) { flash(error.message, true); }
  });
}

({ machines: initMachines, machine: initMachine, jobs: initJobs, job: initJob, service: initService,
   costs: initCosts, offers: initOffers })[PAGE]?.();
