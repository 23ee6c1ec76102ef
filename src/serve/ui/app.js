// gantry web UI: a small router over the JSON API and its event streams. No build step.
"use strict";

const app = () => document.getElementById("app");
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) =>
  ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

async function api(path, options) {
  const r = await fetch("/api/v1" + path, Object.assign({ credentials: "same-origin" }, options || {}));
  if (r.status === 401) { location.href = "/login"; throw new Error("unauthorized"); }
  return r;
}
async function json(path, options) {
  const r = await api(path, options);
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

function badge(status) {
  return `<span class="badge s-${esc(status)}" data-status="${esc(status)}">${esc(status)}</span>`;
}
function when(t) {
  if (!t) return "";
  const d = new Date(t);
  return `<time datetime="${esc(t)}" title="${esc(t)}">${d.toLocaleString()}</time>`;
}
function took(a, b) {
  if (!a) return "";
  const ms = (b ? new Date(b) : new Date()) - new Date(a);
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
}
const active = (s) => ["created", "pending", "running"].includes(s);

let stream = null;
function listen(url, handlers) {
  if (stream) stream.close();
  stream = new EventSource(url);
  const live = document.getElementById("live");
  stream.onopen = () => {
    if (live) live.classList.add("on");
    if (handlers.open) handlers.open();
  };
  stream.onerror = () => live && live.classList.remove("on");
  for (const [name, fn] of Object.entries(handlers)) {
    if (name === "open") continue;
    stream.addEventListener(name, (e) => fn(JSON.parse(e.data)));
  }
}
function debounce(fn, ms) {
  let t = null;
  return () => { clearTimeout(t); t = setTimeout(fn, ms); };
}

// ---- pipeline list ----------------------------------------------------------------------
async function listPage() {
  document.title = "gantry · pipelines";
  const params = new URLSearchParams(location.search);
  const q = new URLSearchParams();
  for (const k of ["repository", "ref", "status", "page"]) if (params.get(k)) q.set(k, params.get(k));
  let repos = [];
  const render = async () => {
    const data = await json("/pipelines?" + q.toString());
    const rows = data.pipelines.map((p) => `
      <tr class="pipeline" data-id="${p.id}">
        <td>${badge(p.status)}</td>
        <td><a href="/pipelines/${p.id}">#${p.id}</a></td>
        <td>${esc(p.repository)}</td>
        <td><span class="ref">${esc(p.ref)}</span> <code>${esc(p.sha.slice(0, 8))}</code></td>
        <td>${esc(p.source)}</td>
        <td>${when(p.created_at)}</td>
        <td>${took(p.started_at, p.finished_at)}</td>
      </tr>`).join("");
    const page = data.page, pages = Math.max(1, Math.ceil(data.total / data.per_page));
    const link = (n) => { const x = new URLSearchParams(q); x.set("page", n); return "/?" + x.toString(); };
    app().innerHTML = `
      <div class="head"><h1>Pipelines</h1>
        <form id="run" class="run">
          <select id="run-repo" aria-label="repository">${repos.map((r) => `<option>${esc(r.name)}</option>`).join("")}</select>
          <input id="run-ref" placeholder="branch or tag" aria-label="ref" required>
          <button type="submit" id="run-button">Run pipeline</button>
        </form></div>
      <table class="list"><thead><tr><th>Status</th><th>Pipeline</th><th>Repository</th><th>Ref</th><th>Source</th><th>Created</th><th>Duration</th></tr></thead>
      <tbody id="pipelines">${rows || `<tr><td colspan="7" class="muted">No pipeline yet.</td></tr>`}</tbody></table>
      <nav class="pager">${page > 1 ? `<a href="${link(page - 1)}">← newer</a>` : ""}
        <span class="muted">page ${page} of ${pages} · ${data.total} pipelines</span>
        ${page < pages ? `<a href="${link(page + 1)}">older →</a>` : ""}</nav>`;
  };
  repos = (await json("/repositories")).repositories;
  await render();
  // "Run pipeline": source `web`, as GitLab's button.
  document.getElementById("app").addEventListener("submit", async (e) => {
    if (e.target.id !== "run") return;
    e.preventDefault();
    const body = { repository: document.getElementById("run-repo").value, ref: document.getElementById("run-ref").value, source: "web" };
    const p = await json("/pipelines", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })
      .catch((err) => alert(err.message));
    if (p) location.href = `/pipelines/${p.id}`;
  });
  const again = debounce(render, 250);
  listen("/api/v1/events", { pipeline: again });
}

// ---- pipeline page ----------------------------------------------------------------------
async function pipelinePage(id) {
  document.title = `gantry · pipeline #${id}`;
  const render = async () => {
    const p = await json(`/pipelines/${id}`);
    const stages = [];
    for (const j of p.jobs) {
      if (!stages.find((s) => s.index === j.stage_index)) stages.push({ index: j.stage_index, name: j.stage, jobs: [] });
      stages.find((s) => s.index === j.stage_index).jobs.push(j);
    }
    stages.sort((a, b) => a.index - b.index);
    const columns = stages.map((s) => `
      <div class="stage"><h3>${esc(s.name)}</h3>
        ${s.jobs.map((j) => `<a class="job s-${esc(j.status)}${j.retried ? " retried" : ""}" href="/jobs/${j.id}" id="job-${j.id}" data-name="${esc(j.name)}"${j.retried ? ` data-retried="true" title="an earlier attempt, retried"` : ""}>
          ${badge(j.status)}<span class="name">${esc(j.name)}</span>
          <span class="muted small">${took(j.started_at, j.finished_at)}${j.allow_failure ? " · allowed to fail" : ""}${j.retried ? " · retried" : ""}</span></a>`).join("")}
      </div>`).join("");
    app().innerHTML = `
      <p class="crumbs"><a href="/">Pipelines</a> › #${p.id}</p>
      <div class="head">
        <h1>${badge(p.status)} Pipeline #${p.id}</h1>
        <div class="actions">
          ${p.status === "manual" && p.trusted === false ? `<button id="approve">Approve</button>` : ""}
          ${active(p.status) || p.status === "manual" ? `<button id="cancel" class="danger">Cancel</button>` : ""}
          <button id="retry">Retry</button>
        </div>
      </div>
      <dl class="facts">
        <dt>Repository</dt><dd>${esc(p.repository)}</dd>
        <dt>Ref</dt><dd><span class="ref">${esc(p.ref)}</span>${p.target_branch ? ` → <span class="ref">${esc(p.target_branch)}</span>` : ""}</dd>
        <dt>Commit</dt><dd><code>${esc(p.sha)}</code></dd>
        <dt>Source</dt><dd>${esc(p.source)}</dd>
        <dt>Created</dt><dd>${when(p.created_at)}</dd>
        <dt>Duration</dt><dd>${took(p.started_at, p.finished_at)}</dd>
        ${p.reason ? `<dt>Reason</dt><dd class="reason">${esc(p.reason)}</dd>` : ""}
        ${p.trusted === false ? `<dt>Trust</dt><dd class="trust">untrusted: ${esc(p.untrusted_reason)}${p.approved_at ? ` · approved ${when(p.approved_at)}` : " · waiting for approval"}</dd>` : ""}
        ${p.ref_protected ? `<dt>Protected</dt><dd>yes</dd>` : ""}
        ${p.retried_from ? `<dt>Retry of</dt><dd><a href="/pipelines/${p.retried_from}">#${p.retried_from}</a>${p.only_job ? ` (job ${esc(p.only_job)})` : ""}</dd>` : ""}
      </dl>
      <div class="dag-wrap"><div class="dag" id="dag">${columns || `<p class="muted">No jobs (yet).</p>`}<svg class="edges" id="edges"></svg></div></div>`;
    drawNeeds(p.jobs);
    const a = document.getElementById("approve");
    // Approval runs the pipeline, still without protected variables, sockets or privileges.
    if (a) a.onclick = async () => { a.disabled = true; await json(`/pipelines/${id}/approve`, { method: "POST" }).catch((e) => alert(e.message)); render(); };
    const c = document.getElementById("cancel");
    if (c) c.onclick = async () => { c.disabled = true; await json(`/pipelines/${id}/cancel`, { method: "POST" }).catch(alert); render(); };
    document.getElementById("retry").onclick = async () => {
      const n = await json(`/pipelines/${id}/retry`, { method: "POST" }).catch((e) => alert(e.message));
      if (n) location.href = `/pipelines/${n.id}`;
    };
  };
  await render();
  const again = debounce(render, 200);
  listen(`/api/v1/events?pipeline=${id}`, { pipeline: again, job: again });
}

// Lines from each needed job to the job that needs it (the DAG beyond stage order).
function drawNeeds(jobs) {
  const dag = document.getElementById("dag"), svg = document.getElementById("edges");
  if (!dag || !svg) return;
  const box = dag.getBoundingClientRect();
  svg.setAttribute("width", dag.scrollWidth);
  svg.setAttribute("height", dag.scrollHeight);
  const byName = new Map(jobs.map((j) => [j.name, j]));
  let paths = "";
  for (const j of jobs) {
    for (const n of j.needs || []) {
      const from = byName.get(n);
      if (!from) continue;
      const a = document.getElementById(`job-${from.id}`).getBoundingClientRect();
      const b = document.getElementById(`job-${j.id}`).getBoundingClientRect();
      const x1 = a.right - box.left, y1 = a.top + a.height / 2 - box.top;
      const x2 = b.left - box.left, y2 = b.top + b.height / 2 - box.top;
      const mx = (x1 + x2) / 2;
      paths += `<path d="M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}" />`;
    }
  }
  svg.innerHTML = paths;
}

// ---- job page ---------------------------------------------------------------------------
const COLORS = ["#1e1e1e", "#e06c75", "#98c379", "#e5c07b", "#61afef", "#c678dd", "#56b6c2", "#d0d0d0"];
const BRIGHT = ["#7f848e", "#ff7b86", "#b5e890", "#ffd68a", "#8cc8ff", "#e29cff", "#7fdbe6", "#ffffff"];
function color256(n) {
  if (n < 8) return COLORS[n];
  if (n < 16) return BRIGHT[n - 8];
  if (n >= 232) { const v = 8 + (n - 232) * 10; return `rgb(${v},${v},${v})`; }
  n -= 16;
  const c = (x) => (x ? 55 + x * 40 : 0);
  return `rgb(${c(Math.floor(n / 36))},${c(Math.floor(n / 6) % 6)},${c(n % 6)})`;
}

// Renders ANSI SGR colours as spans; the state carries across calls (lines arrive one by one).
class Ansi {
  constructor() { this.reset(); }
  reset() { this.fg = null; this.bg = null; this.bold = false; this.italic = false; this.underline = false; }
  style() {
    const s = [];
    if (this.fg) s.push(`color:${this.fg}`);
    if (this.bg) s.push(`background:${this.bg}`);
    if (this.bold) s.push("font-weight:bold");
    if (this.italic) s.push("font-style:italic");
    if (this.underline) s.push("text-decoration:underline");
    return s.join(";");
  }
  sgr(codes) {
    for (let i = 0; i < codes.length; i++) {
      const c = codes[i];
      if (c === 0) this.reset();
      else if (c === 1) this.bold = true;
      else if (c === 3) this.italic = true;
      else if (c === 4) this.underline = true;
      else if (c === 22) this.bold = false;
      else if (c === 23) this.italic = false;
      else if (c === 24) this.underline = false;
      else if (c >= 30 && c <= 37) this.fg = COLORS[c - 30];
      else if (c === 39) this.fg = null;
      else if (c >= 40 && c <= 47) this.bg = COLORS[c - 40];
      else if (c === 49) this.bg = null;
      else if (c >= 90 && c <= 97) this.fg = BRIGHT[c - 90];
      else if (c >= 100 && c <= 107) this.bg = BRIGHT[c - 100];
      else if ((c === 38 || c === 48) && codes[i + 1] === 5) {
        const v = color256(codes[i + 2] || 0); if (c === 38) this.fg = v; else this.bg = v; i += 2;
      } else if ((c === 38 || c === 48) && codes[i + 1] === 2) {
        const v = `rgb(${codes[i + 2] || 0},${codes[i + 3] || 0},${codes[i + 4] || 0})`;
        if (c === 38) this.fg = v; else this.bg = v; i += 4;
      }
    }
  }
  html(text) {
    let out = "", last = 0;
    const re = /\x1b\[([0-9;]*)([A-Za-z])/g;
    const chunk = (t) => {
      t = t.replace(/\r/g, "");
      if (!t) return;
      let h = esc(t).replace(/\[MASKED\]/g, `<span class="masked">[MASKED]</span>`);
      const st = this.style();
      out += st ? `<span style="${st}">${h}</span>` : h;
    };
    let m;
    while ((m = re.exec(text))) {
      chunk(text.slice(last, m.index));
      if (m[2] === "m") this.sgr(m[1] === "" ? [0] : m[1].split(";").map((x) => parseInt(x, 10) || 0));
      last = re.lastIndex;
    }
    chunk(text.slice(last));
    return out;
  }
}

async function jobPage(id) {
  const j = await json(`/jobs/${id}`);
  document.title = `gantry · ${j.name}`;
  const p = await json(`/pipelines/${j.pipeline_id}`);
  app().innerHTML = `
    <p class="crumbs"><a href="/">Pipelines</a> › <a href="/pipelines/${p.id}">#${p.id}</a> › ${esc(j.name)}</p>
    <div class="head">
      <h1><span id="job-status">${badge(j.status)}</span> ${esc(j.name)}</h1>
      <div class="actions">
        <button id="cancel" class="danger" ${active(p.status) ? "" : "hidden"}>Cancel pipeline</button>
        <button id="retry" ${j.retried ? "hidden" : ""}>Retry job</button>
      </div>
    </div>
    <p class="muted small">stage ${esc(j.stage)} · ${esc(p.repository)} <span class="ref">${esc(p.ref)}</span> <code>${esc(p.sha.slice(0, 8))}</code>${j.detail ? ` · <span class="reason">${esc(j.detail)}</span>` : ""}${j.retried ? ` · <span class="retried">an earlier attempt, retried</span>` : ""}</p>
    <pre class="log" id="log"></pre>
    <p class="muted small" id="log-end"></p>`;
  const log = document.getElementById("log");
  const ansi = new Ansi();
  let follow = true;
  window.onscroll = () => { follow = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40; };
  const add = (text) => {
    log.insertAdjacentHTML("beforeend", ansi.html(text));
    if (follow) window.scrollTo(0, document.body.scrollHeight);
  };
  const cancel = document.getElementById("cancel");
  cancel.onclick = async () => {
    cancel.disabled = true;
    await json(`/pipelines/${p.id}/cancel`, { method: "POST" }).catch((e) => alert(e.message));
  };
  document.getElementById("retry").onclick = async () => {
    const n = await json(`/jobs/${id}/retry`, { method: "POST" }).catch((e) => alert(e.message));
    if (n) location.href = `/pipelines/${n.id}`;
  };
  listen(`/api/v1/jobs/${id}/log/stream?offset=0`, {
    // Every (re)connection replays the log from the start: begin afresh.
    open: () => { log.innerHTML = ""; ansi.reset(); },
    log: (e) => add(e.text),
    job: (e) => {
      document.getElementById("job-status").innerHTML = badge(e.status);
      if (!active(e.status)) cancel.hidden = true;
    },
  });
}

// ---- environments -----------------------------------------------------------------------
// As GitLab lists them: name, URL, namespace, the pipeline and commit that deployed it, state
// and when it stops; Stop runs its on_stop job.
async function environmentsPage() {
  document.title = "gantry · environments";
  const repo = new URLSearchParams(location.search).get("repository");
  const render = async () => {
    const envs = await json("/environments" + (repo ? "?repository=" + encodeURIComponent(repo) : ""));
    const rows = envs.map((e) => `
      <tr class="environment" data-id="${e.id}" data-name="${esc(e.name)}">
        <td class="env-name">${esc(e.name)}</td>
        <td>${esc(e.repository)}</td>
        <td>${e.url ? `<a href="${esc(e.url)}" rel="noopener">${esc(e.url)}</a>` : ""}</td>
        <td><code class="env-namespace">${esc(e.namespace)}</code></td>
        <td><a href="/pipelines/${e.pipeline_id}">#${e.pipeline_id}</a> <code>${esc(e.sha.slice(0, 8))}</code></td>
        <td>${badge(e.state)}</td>
        <td>${e.auto_stop_at ? when(e.auto_stop_at) : `<span class="muted">never</span>`}</td>
        <td>${e.state === "available" ? `<button class="stop" data-id="${e.id}">Stop</button>` : ""}</td>
      </tr>`).join("");
    app().innerHTML = `
      <div class="head"><h1>Environments</h1></div>
      <table class="list"><thead><tr><th>Name</th><th>Repository</th><th>URL</th><th>Namespace</th><th>Deployed by</th><th>State</th><th>Stops</th><th></th></tr></thead>
      <tbody id="environments">${rows || `<tr><td colspan="8" class="muted">No environment yet.</td></tr>`}</tbody></table>`;
  };
  await render();
  app().addEventListener("click", async (e) => {
    const b = e.target.closest("button.stop");
    if (!b) return;
    b.disabled = true;
    await json(`/environments/${b.dataset.id}/stop`, { method: "POST" }).catch((err) => alert(err.message));
    await render();
  });
  const again = debounce(render, 250);
  listen("/api/v1/events", { pipeline: again, job: again });
}

// ---- schedules --------------------------------------------------------------------------
// As GitLab lists pipeline schedules: description, cron and zone, ref, next run, last pipeline;
// "Run now" starts one at once.
async function schedulesPage() {
  document.title = "gantry · schedules";
  const render = async () => {
    const data = await json("/schedules");
    const rows = data.schedules.map((s) => `
      <tr class="schedule" data-id="${s.id}">
        <td>${esc(s.description || "")}</td>
        <td>${esc(s.repository)}</td>
        <td><code class="cron">${esc(s.cron)}</code> <span class="muted small">${esc(s.timezone)}</span></td>
        <td><span class="ref">${esc(s.ref)}</span></td>
        <td class="next-run">${s.active ? (s.next_run_at ? when(s.next_run_at) : "") : `<span class="muted">inactive</span>`}</td>
        <td>${s.last_pipeline_id ? `<a href="/pipelines/${s.last_pipeline_id}">#${s.last_pipeline_id}</a>` : ""}${s.last_error ? ` <span class="reason">${esc(s.last_error)}</span>` : ""}</td>
        <td class="muted small">${esc(s.owner)}</td>
        <td><button class="run-now" data-id="${s.id}">Run now</button></td>
      </tr>`).join("");
    app().innerHTML = `
      <div class="head"><h1>Schedules</h1></div>
      <table class="list"><thead><tr><th>Description</th><th>Repository</th><th>Cron</th><th>Ref</th><th>Next run</th><th>Last pipeline</th><th>Defined in</th><th></th></tr></thead>
      <tbody id="schedules">${rows || `<tr><td colspan="8" class="muted">No schedule.</td></tr>`}</tbody></table>`;
  };
  await render();
  app().addEventListener("click", async (e) => {
    const b = e.target.closest("button.run-now");
    if (!b) return;
    b.disabled = true;
    const p = await json(`/schedules/${b.dataset.id}/run`, { method: "POST" }).catch((err) => alert(err.message));
    if (p) location.href = `/pipelines/${p.id}`;
  });
  const again = debounce(render, 250);
  listen("/api/v1/events", { pipeline: again });
}

// ---- router -----------------------------------------------------------------------------
function route() {
  const path = location.pathname;
  let m;
  const fail = (e) => { app().innerHTML = `<p class="error">${esc(e.message)}</p>`; };
  if ((m = path.match(/^\/pipelines\/(\d+)$/))) pipelinePage(m[1]).catch(fail);
  else if ((m = path.match(/^\/jobs\/(\d+)$/))) jobPage(m[1]).catch(fail);
  else if (path === "/environments") environmentsPage().catch(fail);
  else if (path === "/schedules") schedulesPage().catch(fail);
  else listPage().catch(fail);
}
document.addEventListener("DOMContentLoaded", route);
