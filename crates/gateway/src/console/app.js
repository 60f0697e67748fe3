// Rampart console: reads the admin API of the gateway it is served by (same origin, session
// cookie) and draws it. No framework, no request leaves this origin.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const SECRET = new Set(["SECRET", "API_KEY", "PRIVATE_KEY", "PASSWORD"]);

async function api(path) {
  const r = await fetch(path, { credentials: "same-origin", headers: { accept: "application/json" } });
  if (r.status === 401) { location.href = "/console/"; throw new Error("signed out"); }
  if (!r.ok) throw new Error(`${path}: ${r.status}`);
  return r.json();
}

function table(rows, cols) {
  if (!rows.length) return '<p class="empty">Nothing yet.</p>';
  const head = cols.map((c) => `<th scope="col">${esc(c[0])}</th>`).join("");
  const body = rows.map((r) => `<tr>${cols.map((c) => `<td>${c[1](r)}</td>`).join("")}</tr>`).join("");
  return `<div class="table-wrap"><table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>`;
}
const usd = (v) => "$" + (v > 0 && v < 0.01 ? v.toPrecision(2) : v.toFixed(2));
const short = (t) => t ? t.replace("T", " ").replace(/\.\d+Z$/, "Z") : "";
const badge = (text, cls) => `<span class="badge ${esc(cls ?? text)}">${esc(text)}</span>`;
const classes = (list) => (list || []).map((c) => badge(c, SECRET.has(c) ? "critical" : "medium")).join(" ");
const edgeColor = (cls) => (cls || []).some((c) => SECRET.has(c)) ? "var(--secret)" : (cls || []).length ? "var(--pii)" : "var(--none)";

// ---- blueprint -------------------------------------------------------------------------

async function blueprint() {
  const [graph, doc] = await Promise.all([api("/admin/discovery/graph"), api("/admin/discovery")]);
  const statusOf = {};
  for (const e of doc.endpoints) {
    (statusOf[e.host] ||= new Set()).add(e.status);
  }
  const shadowAi = new Set(doc.ai.filter((a) => !a.via_gateway).map((a) => a.host));
  const column = { identity: 0, service: 1, third_party: 1, host: 1, ai_provider: 2, data_store: 2 };
  const cols = [[], [], []];
  for (const n of graph.nodes) cols[column[n.kind] ?? 1].push(n);
  const W = 240, H = 56, X = (i) => 20 + i * 300;
  const pos = {};
  // empty columns take no room
  const used = cols.filter((c) => c.length);
  used.forEach((nodes, i) => nodes.forEach((n, j) => { pos[n.id] = { x: X(i), y: 20 + j * H, n }; }));
  const height = Math.max(...used.map((c) => c.length), 1) * H + 40;
  const edges = graph.edges.filter((e) => pos[e.from] && pos[e.to]).map((e, i) => {
    const a = pos[e.from], b = pos[e.to];
    const dash0 = e.kind === "ai" ? ' stroke-dasharray="6 4"' : "";
    if (a === b) {
      // a node that calls itself (a service calling its own host): a loop on its right
      return `<path class="edge" tabindex="0" role="button" data-edge="${i}" aria-label="${esc(e.from)} to itself"
        d="M${a.x + W},${a.y + 10} c40,-20 40,36 0,16" stroke="${edgeColor(e.classes)}"${dash0}></path>`;
    }
    const back = b.x <= a.x;
    const x1 = back ? a.x : a.x + W, y1 = a.y + 18, x2 = back ? b.x + W : b.x, y2 = b.y + 18;
    const dash = e.kind === "ai" ? ' stroke-dasharray="6 4"' : e.kind === "lineage" ? ' stroke-dasharray="2 3"' : "";
    return `<path class="edge" tabindex="0" role="button" data-edge="${i}" aria-label="${esc(e.from)} to ${esc(e.to)}"
      d="M${x1},${y1} C${x1 + 60},${y1} ${x2 - 60},${y2} ${x2},${y2}" stroke="${edgeColor(e.classes)}"${dash}></path>`;
  });
  const nodes = Object.values(pos).map(({ x, y, n }) => {
    const marks = [...(statusOf[n.id] || [])].filter((s) => s === "shadow" || s === "zombie");
    if (shadowAi.has(n.id)) marks.push("shadow AI");
    return `<g class="node" tabindex="0" role="button" data-node="${esc(n.id)}" aria-label="${esc(n.kind)} ${esc(n.id)}${marks.length ? " (" + marks.join(", ") + ")" : ""}">
      <rect x="${x}" y="${y}" width="${W}" height="36" rx="8" fill="var(--card)" stroke="var(--${esc(n.kind === "host" ? "service" : n.kind)})" stroke-width="2"></rect>
      <text x="${x + 10}" y="${y + 22}">${esc(n.id.length > 30 ? n.id.slice(0, 29) + "…" : n.id)}${marks.length ? " ⚠ " + esc(marks.join(", ")) : ""}</text></g>`;
  });
  $("#graph").innerHTML = `<svg width="${X(Math.max(used.length - 1, 0)) + W + 60}" height="${height}" role="img" aria-label="Flow graph">${edges.join("")}${nodes.join("")}</svg>`;
  const showNode = (id) => {
    const n = pos[id].n;
    const eps = doc.endpoints.filter((e) => e.host === id);
    const ai = doc.ai.filter((a) => a.host === id);
    $("#detail").innerHTML = `<h2>${esc(id)}</h2><p>${badge(n.kind)} ${n.store ? badge(n.store) : ""}</p>
      ${eps.length ? table(eps, [["Endpoint", (e) => `${esc(e.method)} ${esc(e.path)}`], ["Status", (e) => badge(e.status)],
        ["Calls", (e) => e.calls], ["Classes", (e) => classes([...e.request_classes, ...e.response_classes])],
        ["Last seen", (e) => esc(short(e.last_seen))]]) : ""}
      ${eps.filter((e) => e.response_schema || e.request_schema).map((e) => `<details><summary>Schemas of ${esc(e.method)} ${esc(e.path)}</summary><pre>${esc(JSON.stringify({ request: e.request_schema, response: e.response_schema }, null, 2))}</pre></details>`).join("")}
      ${ai.map((a) => `<p>AI: ${esc(a.provider)} ${a.via_gateway ? badge("via gateway", "allow") : badge("shadow AI", "shadow-ai")} models ${esc(a.models.join(", "))}; ${a.calls} calls</p>`).join("")}`;
  };
  const showEdge = (i) => {
    const e = graph.edges.filter((e) => pos[e.from] && pos[e.to])[i];
    $("#detail").innerHTML = `<h2>${esc(e.from)} → ${esc(e.to)}</h2><p>${badge(e.kind)} ${e.calls ?? 0} calls${e.via ? " via " + esc(e.via) : ""}</p><p>${classes(e.classes)}</p>
      ${e.models ? `<p>Models: ${esc(e.models.join(", "))}</p>` : ""}`;
  };
  $("#graph").onclick = (ev) => {
    const n = ev.target.closest("[data-node]"), e = ev.target.closest("[data-edge]");
    if (n) showNode(n.dataset.node); else if (e) showEdge(+e.dataset.edge);
  };
  $("#graph").onkeydown = (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); ev.target.dispatchEvent(new MouseEvent("click", { bubbles: true })); } };
  $("#endpoints").innerHTML = table(doc.endpoints, [["Host", (e) => esc(e.host)], ["Endpoint", (e) => `${esc(e.method)} ${esc(e.path)}`],
    ["Status", (e) => badge(e.status)], ["Calls", (e) => e.calls], ["Auth", (e) => esc(e.auth.join(", "))],
    ["Classes", (e) => classes([...e.request_classes, ...e.response_classes])], ["OWASP", (e) => esc(e.owasp.join(", "))], ["Risk", (e) => e.risk]]);
}

// ---- findings ----------------------------------------------------------------------------

async function findings() {
  const f = new FormData($("#finding-filters"));
  const q = new URLSearchParams();
  for (const k of ["severity", "owasp", "class"]) if (f.get(k)) q.set(k, f.get(k));
  const [agg, recent] = await Promise.all([api(`/admin/discovery/findings?${q}`), api("/admin/exchanges?limit=500")]);
  $("#findings-table").innerHTML = table(agg.findings, [["Severity", (x) => badge(x.severity)], ["OWASP", (x) => esc((x.owasp || []).join(", "))],
    ["Class", (x) => classes([x.class])], ["Detector", (x) => esc(x.detector)], ["Endpoint", (x) => `${esc(x.host)} ${esc(x.method)} ${esc(x.path)}`],
    ["Direction", (x) => esc(x.direction)], ["Count", (x) => x.count], ["Last seen", (x) => esc(x.last_seen ?? "")]]);
  const who = (f.get("identity") || "").toLowerCase();
  const since = f.get("since") ? new Date(f.get("since")) : null;
  const rows = recent.exchanges.filter((x) => x.findings.length
    && (!f.get("class") || x.findings.some((y) => y.class === f.get("class")))
    && (!f.get("severity") || x.findings.some((y) => ["low", "medium", "high", "critical"].indexOf(y.severity) >= ["low", "medium", "high", "critical"].indexOf(f.get("severity"))))
    && (!who || [x.caller.workload, x.caller.namespace, x.caller.ip, x.caller.key_id].some((v) => (v || "").toLowerCase().includes(who)))
    && (!since || new Date(x.time) >= since));
  $("#exchanges-table").innerHTML = table(rows, [["Time", (x) => `<a href="#exchange/${encodeURIComponent(x.id)}">${esc(x.time)}</a>`],
    ["Caller", (x) => esc(x.caller.workload || x.caller.ip)], ["Request", (x) => `${esc(x.method)} ${esc(x.host ?? "")}${esc(x.path)}`],
    ["Decision", (x) => badge(x.decision)], ["Classes", (x) => classes([...new Set(x.findings.map((y) => y.class))])]]);
}

async function exchange(id) {
  const x = await api(`/admin/exchanges/${encodeURIComponent(id)}`);
  $("#exchange").innerHTML = `<p>${badge(x.decision)} ${esc(x.method)} ${esc(x.host ?? "")}${esc(x.path)} → ${x.status} in ${x.latency_ms.toFixed(1)} ms</p>
    <p>Caller: ${esc(x.caller.workload ?? "")} ${esc(x.caller.namespace ?? "")} ${esc(x.caller.ip)} · provider ${esc(x.provider)} ${esc(x.model ?? "")}</p>
    <p>Decided by: ${esc(x.decided_by ?? "no rule")} (${esc(x.reason)})</p>
    ${table(x.findings, [["Class", (y) => classes([y.class])], ["Detector", (y) => esc(y.detector)], ["Where", (y) => `${esc(y.direction)} ${esc(y.location)}`],
      ["Action", (y) => badge(y.action)], ["Rule", (y) => esc(y.rule ?? "")]])}
    <p class="empty">Values are never kept: only where each finding was and what was done.</p>`;
}

// ---- AI usage ---------------------------------------------------------------------------

function bars(items, unit) {
  const max = Math.max(...items.map((i) => i[1]), 1e-9);
  return `<div class="bars">${items.map(([label, v]) => `<div class="bar"><span>${esc(label)}</span><span class="fill" style="width:${(100 * v / max).toFixed(1)}%"></span><span>${unit === "$" ? usd(v) : v}</span></div>`).join("")}</div>`;
}

async function ai() {
  const [use, limits] = await Promise.all([api("/admin/discovery/ai"), api("/admin/limits")]);
  const rows = use.ai;
  const tokens = rows.map((a) => [`${a.provider} @ ${a.host}`, a.input_tokens + a.output_tokens]);
  const cost = rows.map((a) => [`${a.provider} @ ${a.host}`, a.cost_usd]);
  const callers = rows.flatMap((a) => (a.callers || []).map((c) => [`${c.caller} → ${a.provider}`, c.input_tokens + c.output_tokens]));
  const days = {};
  for (const a of rows) for (const d of a.by_day || []) days[d.day] = (days[d.day] || 0) + d.input_tokens + d.output_tokens;
  // series per model, key and caller: totals, and tokens per day as a small chart
  const series = {};
  for (const a of rows) for (const u of a.usage || []) {
    const s = ((series[u.dimension] ||= {})[u.name] ||= { tokens: 0, cost: 0, days: {} });
    const t = u.input_tokens + u.output_tokens;
    s.tokens += t; s.cost += u.cost_usd;
    if (u.day) s.days[u.day] = (s.days[u.day] || 0) + t;
  }
  const allDays = [...new Set(Object.values(series).flatMap((d) => Object.values(d).flatMap((s) => Object.keys(s.days))))].sort();
  const spark = (s) => {
    const max = Math.max(...allDays.map((d) => s.days[d] || 0), 1);
    return `<svg width="${allDays.length * 10 + 2}" height="24" role="img" aria-label="tokens per day">${allDays.map((d, i) => {
      const h = Math.round(22 * (s.days[d] || 0) / max);
      return `<rect x="${1 + i * 10}" y="${23 - h}" width="8" height="${h}" fill="var(--accent)"><title>${esc(d)}: ${s.days[d] || 0} tokens</title></rect>`;
    }).join("")}</svg>`;
  };
  const dimension = (dim, title, label) => {
    const entries = Object.entries(series[dim] || {}).sort((a, b) => b[1].tokens - a[1].tokens);
    return entries.length ? `<h2>${title}</h2>` + table(entries, [[label, ([n]) => esc(n)], ["Tokens", ([, s]) => s.tokens],
      ["Cost", ([, s]) => usd(s.cost)], ["Tokens per day", ([, s]) => spark(s)]]) : "";
  };
  $("#ai-charts").innerHTML = rows.length ? `
    <h2>Providers and models</h2>${table(rows, [["Host", (a) => esc(a.host)], ["Provider", (a) => esc(a.provider)], ["Models", (a) => esc(a.models.join(", "))],
      ["Calls", (a) => a.calls], ["Route", (a) => a.via_gateway ? badge("via gateway", "allow") : badge("shadow AI", "shadow-ai")], ["Keys", (a) => esc((a.keys || []).join(", "))]])}
    <h2>Tokens per provider</h2>${bars(tokens)}<h2>Cost per provider (list prices)</h2>${bars(cost, "$")}
    <h2>Tokens per caller</h2>${bars(callers)}<h2>Tokens per day</h2>${bars(Object.entries(days).sort())}
    ${dimension("model", "By model", "Model")}${dimension("key", "By key", "Key fingerprint")}${dimension("caller", "By workload", "Workload or caller")}` : '<p class="empty">No AI use recorded yet.</p>';
  const room = limits.headroom || [];
  $("#limits").innerHTML = `<p>Counters in ${esc(limits.store)}; ${limits.store_errors} store errors.</p>` + (room.length
    ? `<div class="bars">${room.map((h) => {
        const who = Object.entries(h.for).map(([k, v]) => `${k} ${v}`).join(", ") || "everyone";
        const pct = h.max ? Math.min(100, 100 * h.used / h.max) : 0;
        return `<div class="bar" data-limit="${esc(h.limit)}"><span>${esc(h.limit)}: ${esc(h.what)} (${esc(who)})</span>
          <span class="fill${pct > 80 ? " hot" : ""}" style="width:${pct.toFixed(1)}%" title="${pct.toFixed(0)}% used"></span>
          <span>${h.headroom} of ${h.max} left</span></div>`;
      }).join("")}</div>`
    : '<p class="empty">No limit is counting yet.</p>');
}

// ---- live -------------------------------------------------------------------------------

let source = null;
function live() {
  if (source) return;
  source = new EventSource("/admin/events");
  source.onopen = () => { $("#live-status").textContent = "connected: new decisions appear at the top"; };
  source.onerror = () => { $("#live-status").textContent = "reconnecting…"; };
  source.addEventListener("exchange", (ev) => {
    const x = JSON.parse(ev.data);
    const li = document.createElement("li");
    li.dataset.decision = x.decision;
    li.innerHTML = `${badge(x.decision)} <a href="#exchange/${encodeURIComponent(x.id)}">${esc(x.time)}</a> ${esc(x.caller.workload || x.caller.ip)} → ${esc(x.method)} ${esc(x.host ?? "")}${esc(x.path)} · ${x.status}
      ${x.decided_by ? " · " + esc(x.decided_by) : ""} ${classes([...new Set(x.findings.map((y) => y.class))])}`;
    const feed = $("#live-feed");
    feed.prepend(li);
    while (feed.children.length > 200) feed.lastChild.remove();
  });
}

// ---- policies and Kubernetes -------------------------------------------------------------

async function policies() {
  const p = await api("/admin/policies");
  const enforcing = new Set(p.enforcing || []);
  $("#policies").innerHTML = `<p>Version ${esc(p.version)} · loaded ${new Date(p.loaded_at_ms).toISOString()} · ${p.reloads} reloads, ${p.failures} failed</p>
    ${p.last_error ? `<h2>Last reload failed</h2><pre class="error">${esc(p.last_error)}</pre>` : '<p>Last reload: ' + badge("ok", "allow") + "</p>"}
    ${table(p.policies, [["Policy", (n) => esc(n)], ["Mode", (n) => badge(enforcing.has(n) ? "enforce" : "monitor", enforcing.has(n) ? "block" : "monitor")]])}
    <h2>Sources</h2><ul>${p.sources.map((s) => `<li>${esc(s)}</li>`).join("")}</ul>
    ${p.warnings.length ? `<h2>Warnings</h2><pre>${esc(p.warnings.join("\n"))}</pre>` : ""}`;
}

async function kubernetes() {
  let k;
  try { k = await api("/admin/kubernetes"); } catch (e) { $("#kubernetes").innerHTML = `<p class="empty">No cluster is linked (${esc(e.message)}).</p>`; return; }
  const ns = Object.entries(k.posture);
  const quarantined = k.quarantines || [];
  $("#kubernetes").innerHTML = `<p>Clusters: ${esc(k.clusters.join(", "))}</p>
    <h2>Posture per namespace</h2>${table(ns, [["Namespace", ([n]) => esc(n)], ["Critical", ([, s]) => s.critical || 0], ["High", ([, s]) => s.high || 0], ["Medium", ([, s]) => s.medium || 0], ["Low", ([, s]) => s.low || 0]])}
    <h2>Risky workloads</h2>${table(k.findings.filter((f) => ["critical", "high"].includes(f.severity)), [["Severity", (f) => badge(f.severity)], ["OWASP", (f) => esc(f.id)],
      ["Object", (f) => `${esc(f.object.kind)} ${esc(f.object.namespace ?? "")}/${esc(f.object.name)}`], ["Container", (f) => esc(f.container ?? "")], ["Finding", (f) => esc(f.message)]])}
    <h2>Models in the cluster</h2>${table(k.models, [["Model", (m) => esc(m.model)], ["Runs in", (m) => m.running_in.map((r) => `${esc(r.namespace)}/${esc(r.workload)} (${esc(r.server)})`).join(", ")], ["Calls", (m) => m.calls]])}
    <h2>Quarantined pods</h2>${table(quarantined, [["Pod", (q) => `${esc(q.namespace)}/${esc(q.pod)}`], ["Reason", (q) => esc(q.reason)],
      ["Asked by", (q) => esc(q.requested_by)], ["State", (q) => badge(q.releasing ? "releasing" : q.phase || "pending", "block")],
      ["", (q) => q.releasing ? "" : `<button type="button" data-release="${esc(q.namespace)}/${esc(q.pod)}">Release</button>`]])}`;
  for (const btn of document.querySelectorAll("[data-release]")) {
    btn.addEventListener("click", async () => {
      const [namespace, ...rest] = btn.dataset.release.split("/");
      btn.disabled = true;
      const r = await fetch("/admin/kubernetes/release", { method: "POST", credentials: "same-origin",
        headers: { "content-type": "application/json", "x-rampart-console": "1" }, body: JSON.stringify({ namespace, pod: rest.join("/") }) });
      btn.textContent = r.ok ? "Released" : "Failed";
      setTimeout(kubernetes, 500);
    });
  }
}

// ---- navigation ---------------------------------------------------------------------------

const pages = { blueprint, findings, ai, live, policies, kubernetes };
async function route() {
  const [page, arg] = (location.hash.slice(1) || "blueprint").split("/");
  for (const s of document.querySelectorAll("main > section")) s.hidden = s.id !== `page-${page}`;
  for (const a of document.querySelectorAll("nav a")) a.setAttribute("aria-selected", a.getAttribute("href") === `#${page}` ? "true" : "false");
  try {
    if (page === "exchange") await exchange(decodeURIComponent(arg || ""));
    else await (pages[page] || blueprint)();
    document.body.dataset.loaded = page;
  } catch (e) {
    const s = document.getElementById(`page-${page}`);
    if (s) s.insertAdjacentHTML("beforeend", `<p class="error" role="alert">${esc(e.message)}</p>`);
  }
}

$("#finding-filters").addEventListener("submit", (e) => { e.preventDefault(); findings(); });
$("#theme").addEventListener("click", () => {
  const dark = !document.documentElement.classList.contains("dark");
  document.documentElement.classList.toggle("dark", dark);
  localStorage.setItem("rampart-theme", dark ? "dark" : "light");
});
const saved = localStorage.getItem("rampart-theme");
if (saved === "dark" || (!saved && matchMedia("(prefers-color-scheme: dark)").matches)) document.documentElement.classList.add("dark");
addEventListener("hashchange", route);
route();
