// The Doorstep team dashboard: vanilla JS over the JSON API (/v1), live through /v1/events.
// Every number shown comes from the server's views, computed by the team's playbook.
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = { me: null, events: null, refreshTimer: null, rendering: 0 };

// ----- small helpers ------------------------------------------------------------------

/** Builds an element; strings become text nodes (never HTML). */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const SVG = "http://www.w3.org/2000/svg";
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  for (const c of children.flat()) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function api(path, opts = {}) {
  const res = await fetch(path, { credentials: "same-origin", ...opts });
  if (res.status === 401 && path !== "/v1/session") { showLogin(); throw new ApiError(401, "unauthorized", "please log in"); }
  const type = res.headers.get("content-type") || "";
  const body = type.includes("json") ? await res.json() : await res.text();
  if (!res.ok) {
    const e = (body && body.error) || {};
    throw new ApiError(res.status, e.code || "error", e.message || res.statusText);
  }
  return body;
}

function today() {
  const d = new Date();
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}
const dateValue = () => $("#date").value || today();
const pct = (x) => (x == null ? "n/a" : `${Math.round(x)}%`);
const money = (cents) => (cents / 100).toFixed(2);
const when = (t) => (t ? new Date(t).toLocaleString() : "never");
const time = (t) => new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });

function badge(ok, text, cls) { return h("span", { class: `badge ${cls || (ok ? "ok" : "bad")}` }, text); }
function yesNo(ok, fresh) {
  if (ok) return badge(true, "yes");
  if (fresh === "partial") return badge(false, "not yet known", "unknown");
  return fresh === "synced" ? badge(false, "no") : badge(false, "not synced", "unknown");
}
function bar(value, target, met) {
  const max = Math.max(target || 0, value, 1);
  const b = h("span", { class: `bar${met ? " met" : ""}` }, h("span", { style: `width:${Math.min(100, (value / max) * 100)}%` }));
  if (target) b.append(h("span", { class: "mark", style: `left:${Math.min(100, (target / max) * 100)}%` }));
  return b;
}
function freshness(row) {
  if (row.freshness === "synced") return h("span", { class: "muted", title: row.last_sync }, `synced ${time(row.last_sync)}`);
  if (row.freshness === "partial") return h("span", { class: "stale", title: row.last_sync }, `synced ${time(row.last_sync)}; later work not known yet`);
  if (row.freshness === "never") return h("span", { class: "stale" }, "never synced");
  return h("span", { class: "stale", title: row.last_sync }, `not synced since ${when(row.last_sync)}`);
}
const agentLink = (user, name, date) => h("a", { href: `#/agent/${encodeURIComponent(user)}/${date || dateValue()}` }, name || user);
const customerLink = (id, name) => h("a", { href: `#/customer/${encodeURIComponent(id)}` }, name || id);

// ----- views ------------------------------------------------------------------------------

const views = {
  async today() {
    const v = await api(`/v1/views/today?date=${dateValue()}`);
    const rows = v.agents.map((a) => {
      const t = a.today;
      const fresh = a.freshness;
      const count = (c, cls) => h("td", { class: `num ${cls}` }, `${c.actual} / ${c.target}`, " ",
        c.met ? badge(true, "✓") : fresh === "synced" ? "" : badge(false, "?", "unknown"));
      return h("tr", { "data-agent": a.agent },
        h("td", {}, agentLink(a.agent, a.name, v.date)),
        h("td", { class: "fresh" }, freshness(a)),
        count(t.effective_visits, "effective"),
        h("td", { class: "log" }, yesNo(t.work_log, fresh)),
        h("td", { class: "report" }, yesNo(t.evening_report, fresh)),
        h("td", { class: "met311" }, yesNo(t.met_311, fresh)),
        count(t.calls, "calls"), count(t.meetings, "meetings"), count(t.results, "results"),
        h("td", { class: "met1031" }, yesNo(t.met_10_3_1, fresh)));
    });
    return [
      h("h2", {}, `Today — ${v.date}`, " ", h("span", { class: "muted" }, v.playbook.title)),
      h("p", { class: "muted" }, "Effective visits against the daily standard, the work log, the evening report (311) and 10-3-1. ",
        "An agent who has not synced today shows “not synced”, not “no”."),
      h("table", { id: "today-table" },
        h("thead", {}, h("tr", {}, ["Agent", "Data", "Effective visits", "Log", "Report", "311", "Calls", "Meetings", "Results", "10-3-1"].map((x) => h("th", {}, x)))),
        h("tbody", {}, rows)),
    ];
  },

  async week() { return period("week"); },
  async month() { return period("month"); },

  async pipeline() {
    const v = await api(`/v1/views/pipeline?date=${dateValue()}`);
    const policyTable = (ps) => h("table", {},
      h("thead", {}, h("tr", {}, ["Policy", "Customer", "Agent", "Due", "Premium", "Status", "Collected"].map((x) => h("th", {}, x)))),
      h("tbody", {}, ps.map((p) => h("tr", {},
        h("td", {}, p.number), h("td", {}, customerLink(p.customer, p.customer_name)),
        h("td", {}, p.agent || ""), h("td", {}, p.due_date), h("td", { class: "num" }, money(p.premium_cents)),
        h("td", {}, p.status), h("td", {}, p.collected ? badge(true, `paid ${p.paid_on || ""}`) : badge(false, "not yet", "warn"))))));
    const months = v.months.map((m) => h("div", { class: "card", "data-phase": m.phase },
      h("h3", {}, m.label, " ", h("span", { class: "muted" }, `(${m.phase})`)),
      h("p", {}, `${m.collected} of ${m.total} collected — `, pct(m.rate_pct), " ",
        bar(m.rate_pct, m.target ? m.target.target : 0, m.target && m.target.met),
        m.target ? h("span", {}, ` target ${pct(m.target.target)}`, m.target.good ? ` / ${pct(m.target.good)}` : "",
          m.target.excellent ? ` / ${pct(m.target.excellent)}` : "", " ", m.target.tier ? badge(true, m.target.tier) : m.target.standing === "n/a" ? h("span", { class: "muted" }, "n/a") : badge(false, "below target")) : h("span", { class: "muted" }, " no target this week")),
      m.policies.length ? policyTable(m.policies) : h("p", { class: "muted" }, "No policies.")));
    const lists = v.lists.map((l) => h("div", { class: "card", "data-list": l.status },
      h("h3", {}, `${l.status} (${l.policies.length})`),
      l.policies.length ? policyTable(l.policies) : h("p", { class: "muted" }, "None.")));
    return [
      h("h2", {}, `Renewal pipeline — ${v.date}, week ${v.week}`),
      v.calendar === "none" ? h("p", { class: "muted" }, "This team's playbook has no renewal calendar.") : "",
      months, h("h2", {}, "Lists"), lists,
    ];
  },

  async problems() {
    const v = await api("/v1/views/problems");
    if (!v.problems.length) return [h("h2", {}, "Escalated problems"), h("p", { class: "muted" }, "No problems raised.")];
    return [h("h2", {}, "Escalated problems"), v.problems.map((r) => {
      const p = r.problem;
      const text = h("textarea", { placeholder: "Answer or note", "aria-label": "answer" });
      const act = (action) => async () => {
        try { await api(`/v1/problems/${p.id}/answer`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ text: text.value, action }) }); render(); }
        catch (e) { alert(e.message); }
      };
      return h("div", { class: "card", "data-problem": p.id },
        h("div", {}, h("strong", {}, p.text)),
        h("p", { class: "muted" }, agentLink(r.agent, r.name, r.date), ` · ${r.date}`, p.customer ? [" · ", customerLink(p.customer)] : "", ` · ${p.status}`),
        h("div", { class: "chain" }, r.chain.map((c) => h("span", { class: `step ${c.state}` }, c.role.replace("_", " ")))),
        p.answers.map((a) => h("div", { class: "comment" }, `${a.author} (${a.role}), ${when(a.at)}: ${a.text}`)),
        r.can_act ? h("div", {}, text, h("button", { onclick: act("resolve") }, "Answer and close"), " ",
          h("button", { class: "secondary", onclick: act("escalate") }, "Escalate"), " ",
          h("button", { class: "secondary", onclick: act("note") }, "Add note")) : "");
    })];
  },

  async "spot-check"() {
    const v = await api(`/v1/views/spot-check?date=${dateValue()}`);
    return [h("h2", {}, `Spot check — week ${v.week} (from ${v.from}), ${v.share_pct}% of agents`),
      v.agents.length ? v.agents.map((a) => h("div", { class: "card", "data-agent": a.agent },
        h("h3", {}, agentLink(a.agent, a.name)),
        h("p", { class: "muted" }, `${a.visits.length} visits, ${a.contacts.length} calls/SMS, ${a.days.filter((d) => d.log).length} work logs, ${a.days.filter((d) => d.report).length} evening reports this week`),
        h("ul", {}, a.visits.map((x) => h("li", {}, `${when(x.start)} — ${x.kind}: ${x.purposes.join(", ")} `, customerLink(x.customer), x.notes ? ` — ${x.notes}` : ""))),
        a.days.filter((d) => d.log).map((d) => h("p", {}, h("strong", {}, `Log ${d.date}: `), d.log.text))))
        : h("p", { class: "muted" }, "No agents drawn this week.")];
  },

  async playbook() {
    const p = await api("/v1/team/playbook");
    const file = h("input", { type: "file", accept: ".toml,text/plain", id: "playbook-file" });
    const msg = h("p", { class: "error" });
    const upload = async () => {
      if (!file.files[0]) return;
      try { await api("/v1/team/playbook", { method: "PUT", headers: { "content-type": "text/plain" }, body: await file.files[0].text() }); render(); }
      catch (e) { msg.textContent = e.message; }
    };
    return [h("h2", {}, `Playbook: ${p.title}`), h("p", { class: "muted" }, `${p.name} · ${p.hash.slice(0, 12)}`),
      h("div", { class: "card" }, h("p", {}, "Put another playbook in force for the team (phones get it at their next sync):"), file, " ", h("button", { onclick: upload }, "Upload"), msg),
      h("pre", {}, p.toml)];
  },

  async customer(id) {
    let c;
    try { c = await api(`/v1/customers/${encodeURIComponent(id)}`); }
    catch (e) {
      if (e.status === 404) return [h("h2", { id: "not-found" }, "Customer not found"), h("p", { class: "muted" }, "There is no such customer in your team.")];
      throw e;
    }
    const card = c.customer;
    const field = (k, v) => (v ? h("tr", {}, h("th", {}, k), h("td", {}, v)) : "");
    return [
      h("h2", { id: "customer-name" }, card.name),
      h("table", { class: "card" }, field("Agent", card.agent), field("Phones", card.phones.join(", ")), field("Address", card.address),
        field("Postcode", card.postcode), field("Birthday", card.birthday), field("Grade", card.grade), field("Status", card.status),
        field("Family", card.family), field("Notes", card.notes)),
      h("h3", {}, "Policies"),
      h("table", {}, h("tbody", {}, c.policies.map((p) => h("tr", {}, h("td", {}, p.number), h("td", {}, p.product), h("td", {}, `due ${p.due_date}`),
        h("td", { class: "num" }, money(p.premium_cents)), h("td", {}, p.status), h("td", {}, p.paid_on ? `paid ${p.paid_on}` : ""))))),
      h("h3", {}, "Visits"),
      h("ul", { class: "timeline" }, c.visits.map((v) => h("li", {}, h("strong", {}, `#${v.number} ${when(v.start)}`), ` ${v.agent} — ${v.kind}: ${v.purposes.join(", ")}`,
        v.outcome ? ` → ${v.outcome.code}` : "", v.notes ? h("div", {}, v.notes) : "",
        c.comments.filter((x) => x.visit === v.id).map((x) => h("div", { class: "comment" }, `${x.author} (${x.role}): ${x.text}`))))),
      h("h3", {}, "Calls and SMS"),
      h("ul", { class: "timeline" }, c.contacts.map((x) => h("li", { class: x.kind }, `${when(x.at)} ${x.agent} — ${x.kind} ${x.purpose || ""}`, x.notes ? ` — ${x.notes}` : ""))),
      h("h3", {}, "Change history"),
      h("table", { id: "history" }, h("thead", {}, h("tr", {}, ["When", "Who", "Via", "What"].map((x) => h("th", {}, x)))),
        h("tbody", {}, c.history.map((e) => h("tr", {}, h("td", {}, when(e.at)), h("td", {}, e.user ? `${e.user} (${e.role || ""})` : e.actor),
          h("td", {}, e.via || ""), h("td", {}, (e.changes || []).join("; ")))))),
    ];
  },

  async agent(user, date) {
    const d = date || dateValue();
    const v = await api(`/v1/agents/${encodeURIComponent(user)}/day?date=${d}`);
    const log = v.day && v.day.log, report = v.day && v.day.report;
    return [
      h("h2", {}, `${v.name} — ${v.date}`), h("p", {}, freshness(v)),
      h("div", { class: "grid" },
        h("div", { class: "card" }, h("h3", {}, "Work log"), log ? log.text : h("span", { class: "muted" }, "not written (or not synced)")),
        h("div", { class: "card" }, h("h3", {}, "Evening report"), report ? [report.summary, h("ul", {}, report.problems.map((p) => h("li", {}, p.text)))] : h("span", { class: "muted" }, "not submitted (or not synced)"))),
      h("h3", {}, "Timeline"),
      v.timeline.length ? h("ul", { class: "timeline", id: "timeline" }, v.timeline.map((e) => {
        const text = h("textarea", { placeholder: "Comment for the agent", "aria-label": "comment" });
        const send = async () => {
          try { await api(`/v1/visits/${e.id}/comments`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ text: text.value }) }); render(); }
          catch (err) { alert(err.message); }
        };
        return h("li", { class: e.kind, "data-id": e.id },
          h("strong", {}, `${time(e.at)}${e.end ? "–" + time(e.end) : ""} ${e.kind}`), " ", customerLink(e.customer, e.customer_name), ` — ${e.what}`,
          e.effective === true ? [" ", badge(true, "effective")] : e.effective === false ? [" ", badge(false, "not effective", "warn")] : "",
          e.notes ? h("div", {}, e.notes) : "",
          e.comments.map((x) => h("div", { class: "comment" }, `${x.author} (${x.role}): ${x.text}`)),
          e.kind === "visit" ? h("div", {}, text, h("button", { onclick: send }, "Comment")) : "");
      })) : h("p", { class: "muted" }, "Nothing recorded (or not synced yet)."),
    ];
  },
};

async function period(kind) {
  const v = await api(`/v1/views/${kind}?date=${dateValue()}`);
  const agents = v.agents.map((a) => h("div", { class: "card", "data-agent": a.agent },
    h("h3", {}, agentLink(a.agent, a.name), " ", a.progress.all_met ? badge(true, "all met") : badge(false, "not all met", "warn"), " ", freshness(a)),
    a.progress.targets.length ? h("table", {}, h("tbody", {}, a.progress.targets.map((t) => h("tr", {},
      h("td", {}, t.label), h("td", { class: "num" }, `${Math.round(t.actual * 10) / 10} / ${t.target}`),
      h("td", {}, bar(t.actual, t.target, t.met)), h("td", {}, t.met ? badge(true, t.tier || "met") : t.standing === "n/a" ? h("span", { class: "muted" }, "n/a") : ""))))) : h("p", { class: "muted" }, "No targets for this period.")));
  const r = v.ratios;
  const ratios = h("table", { id: "ratios" }, h("tbody", {}, r.ratios.map((x) => h("tr", {},
    h("td", {}, x.label), h("td", { class: "num" }, pct(x.actual_pct)),
    h("td", {}, bar(x.actual_pct, x.min_pct, x.met)),
    h("td", {}, `target ${pct(x.min_pct)}${x.max_pct ? "–" + pct(x.max_pct) : ""}`, " ", x.met ? badge(true, "met") : x.standing === "n/a" ? h("span", { class: "muted" }, "n/a") : badge(false, "below")),
    h("td", { class: "muted" }, x.agents.join(", "))))));
  return [
    h("h2", {}, `${kind === "week" ? "Week" : "Month"} — ${v.date} (week ${v.week})`, " ", h("span", { class: "muted" }, v.playbook.title)),
    h("div", { class: "card" }, h("h3", {}, `Team ratios (${r.agents} agents, spot-check ${r.spot_check})`), ratios, trendChart(v.trend)),
    agents,
  ];
}

/** Inline SVG: each ratio's share of agents per week. */
function trendChart(trend) {
  if (!trend.length) return "";
  const W = 640, H = 180, L = 34, B = 30, T = 10;
  const measures = trend[0].ratios.map((r) => [r.measure, r.label]);
  const colors = ["#1a5fb4", "#1e8e3e", "#c77700", "#9141ac", "#c5221f", "#3d8a99"];
  const x = (i) => L + (trend.length === 1 ? (W - L) / 2 : (i * (W - L - 10)) / (trend.length - 1));
  const y = (p) => T + (H - T - B) * (1 - Math.min(100, p) / 100);
  const svg = s("svg", { class: "trend", viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img", "aria-label": "team ratios per week" });
  for (const p of [0, 50, 100]) {
    svg.append(s("line", { x1: L, x2: W, y1: y(p), y2: y(p), stroke: "#dde1e6" }), s("text", { x: 2, y: y(p) + 3 }, `${p}%`));
  }
  trend.forEach((t, i) => svg.append(s("text", { x: x(i) - 14, y: H - 10 }, `${t.from.slice(5)} w${t.week}`)));
  measures.forEach(([m], k) => {
    const pts = trend.map((t, i) => { const r = t.ratios.find((q) => q.measure === m); return `${x(i)},${y(r ? r.actual_pct : 0)}`; });
    svg.append(s("polyline", { points: pts.join(" "), fill: "none", stroke: colors[k % colors.length], "stroke-width": 2 }));
  });
  const legend = h("div", { class: "muted" }, measures.map(([, label], k) => h("span", { style: `color:${colors[k % colors.length]}; margin-right:1rem` }, `■ ${label}`)));
  return h("div", {}, h("h3", {}, "Trend per week"), svg, legend);
}

// ----- routing, login, live updates -----------------------------------------------------------

function route() {
  const parts = (location.hash || "#/today").slice(2).split("/").map(decodeURIComponent);
  return { name: parts[0] || "today", args: parts.slice(1) };
}

async function render() {
  const { name, args } = route();
  const view = views[name] || views.today;
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.view === name);
  const ticket = ++state.rendering;
  try {
    const content = await view(...args);
    if (ticket !== state.rendering) return; // a newer render won
    $("#view").replaceChildren(...[content].flat(2).filter((c) => c !== "" && c !== null));
    $("#updated").textContent = ` · updated ${new Date().toLocaleTimeString()}`;
  } catch (e) {
    if (e.status === 401) return;
    if (ticket === state.rendering) $("#view").replaceChildren(h("p", { class: "error", id: "view-error" }, e.message));
  }
}

function refreshSoon() {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(render, 150);
}

function listen() {
  if (state.events) state.events.close();
  const es = new EventSource("/v1/events");
  es.addEventListener("ready", () => $("#live").classList.add("on"));
  es.addEventListener("change", refreshSoon);
  es.onerror = () => $("#live").classList.remove("on");
  state.events = es;
}

function showLogin() {
  if (state.events) { state.events.close(); state.events = null; }
  $("#app").hidden = true;
  $("#login").hidden = false;
}

async function start() {
  try { state.me = await api("/v1/session"); }
  catch (e) { showLogin(); return; }
  $("#login").hidden = true;
  $("#app").hidden = false;
  $("#team").textContent = `· team ${state.me.team}`;
  $("#me").textContent = `${state.me.name} (${state.me.role.replace("_", " ")})`;
  if (!$("#date").value) $("#date").value = today();
  listen();
  render();
}

function exportsLinks() {
  const d = dateValue();
  const first = d.slice(0, 8) + "01";
  $("#export-visits").href = `/v1/exports/visits.csv?from=${first}&to=${d}`;
  $("#export-contacts").href = `/v1/exports/contacts.csv?from=${first}&to=${d}`;
  $("#export-pipeline").href = `/v1/exports/pipeline.csv?date=${d}`;
}

$("#login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("#login-error").textContent = "";
  try {
    await api("/v1/session", { method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ user: $("#login-user").value, password: $("#login-password").value }) });
    await start();
  } catch (e) { $("#login-error").textContent = e.message; }
});
$("#logout").addEventListener("click", async () => { await fetch("/v1/session", { method: "DELETE" }); showLogin(); });
$("#date").addEventListener("change", () => { exportsLinks(); render(); });
window.addEventListener("hashchange", render);
$("#date").value = today();
exportsLinks();
start();
