// The Doorstep team dashboard: vanilla JS over the JSON API (/v1), live through /v1/events.
// Every number shown comes from the server's views, computed by the team's playbook. Every
// word shown comes from the message catalogue the server embedded in the page (zh-CN or en,
// see /i18n/*.json in the sources); dates and numbers are formatted by Intl in that language.
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = { me: null, events: null, refreshTimer: null, rendering: 0, names: {}, agents: [], labels: null };

// ----- language -----------------------------------------------------------------------------

const LANG = document.documentElement.lang || "zh-CN";
const MESSAGES = JSON.parse($("#messages").textContent);

/** The message `key` in the page's language, with `{name}` placeholders filled. */
function t(key, params) {
  const m = MESSAGES[key];
  if (m === undefined) return key;
  return m.replace(/\{(\w+)\}/g, (_, k) => (params && params[k] !== undefined ? String(params[k]) : `{${k}}`));
}

const nf = new Intl.NumberFormat(LANG, { maximumFractionDigits: 1 });
const money = (cents) => new Intl.NumberFormat(LANG, { style: "currency", currency: "CNY" }).format(cents / 100);
const pct = (x) => `${nf.format(Math.round(x))}%`;
const num = (x) => nf.format(Math.round(x * 10) / 10);
/** A `YYYY-MM-DD` day, as people of the page's language write it (with its weekday for the
 *  day a view is about). */
function day(iso, weekday) {
  if (!iso) return "";
  const [y, m, d] = iso.split("-").map(Number);
  return new Intl.DateTimeFormat(LANG, { year: "numeric", month: "long", day: "numeric", weekday: weekday ? "short" : undefined }).format(new Date(y, m - 1, d));
}
function shortDay(iso) {
  const [y, m, d] = iso.split("-").map(Number);
  return new Intl.DateTimeFormat(LANG, { month: "numeric", day: "numeric" }).format(new Date(y, m - 1, d));
}
function monthName(iso) {
  const [y, m] = iso.split("-").map(Number);
  return new Intl.DateTimeFormat(LANG, { year: "numeric", month: "long" }).format(new Date(y, m - 1, 1));
}
const distance = (m) => (m >= 1000 ? `${nf.format(Math.round(m / 100) / 10)} km` : `${nf.format(Math.round(m))} m`);
const when = (ts) => (ts ? new Intl.DateTimeFormat(LANG, { dateStyle: "medium", timeStyle: "short" }).format(new Date(ts)) : t("never"));
const time = (ts) => new Intl.DateTimeFormat(LANG, { hour: "2-digit", minute: "2-digit" }).format(new Date(ts));

// ----- small helpers ------------------------------------------------------------------------

/** Builds an element; strings become text nodes (never HTML). */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(3)) {
    if (c === null || c === undefined || c === false || c === "") continue;
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
  let res;
  try { res = await fetch(path, { credentials: "same-origin", ...opts }); }
  catch (e) { throw new ApiError(0, "network", t("error.network")); }
  if (res.status === 401 && path !== "/v1/session") { showLogin(); throw new ApiError(401, "unauthorized", t("error.login")); }
  const type = res.headers.get("content-type") || "";
  let body = null;
  try { body = type.includes("json") ? await res.json() : await res.text(); } catch (e) { body = null; }
  if (!res.ok) {
    const e = (body && body.error) || {};
    throw new ApiError(res.status, e.code || "error", e.message || "");
  }
  return body;
}

/** What an error means for the person looking at the page, in the page's language. */
function errorText(e) {
  if (!(e instanceof ApiError)) return t("error.bug");
  if (e.status === 0) return t("error.network");
  if (e.status === 401) return t("error.login");
  if (e.status === 403) return t("error.forbidden");
  if (e.status === 404) return t("error.not_found");
  if (e.status === 413) return t("error.too_large");
  if (e.status >= 500) return t("error.server");
  return t("error.invalid");
}

/** The error panel: what went wrong, the server's detail for a refused input, and Retry. */
function errorPanel(e, retry) {
  const detail = e instanceof ApiError && e.status >= 400 && e.status < 500 && e.status !== 404 ? e.message : "";
  return h("div", { class: "card error-panel", id: "view-error", role: "alert" },
    h("p", {}, errorText(e)), detail ? h("p", { class: "muted small" }, detail) : "",
    retry ? h("button", { onclick: retry, id: "retry" }, t("retry")) : "");
}

function notFound() {
  return [h("div", { class: "card not-found", id: "not-found" },
    h("h2", {}, t("not_found.title")), h("p", { class: "muted" }, t("not_found.text")),
    h("a", { href: "#/today" }, t("not_found.back")))];
}

function today() {
  const d = new Date();
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}
const dateValue = () => $("#date").value || today();
const q = (extra) => `lang=${encodeURIComponent(LANG)}${extra ? "&" + extra : ""}`;

function badge(cls, text) { return h("span", { class: `badge ${cls}` }, text); }
function bar(value, target, met) {
  const max = Math.max(target || 0, value, 1);
  const b = h("span", { class: `bar${met ? " met" : ""}`, role: "img", "aria-label": `${num(value)} / ${num(target || 0)}` },
    h("span", { style: `width:${Math.min(100, (value / max) * 100)}%` }));
  if (target) b.append(h("span", { class: "mark", style: `left:${Math.min(100, (target / max) * 100)}%` }));
  return b;
}
function freshness(row) {
  if (row.freshness === "synced") return h("span", { class: "muted", title: row.last_sync }, t("fresh.synced", { time: time(row.last_sync) }));
  if (row.freshness === "partial") return h("span", { class: "stale", title: row.last_sync }, t("fresh.partial", { time: time(row.last_sync) }));
  if (row.freshness === "never") return h("span", { class: "stale" }, t("fresh.never"));
  return h("span", { class: "stale", title: row.last_sync }, t("fresh.behind", { when: when(row.last_sync) }));
}
const nameOf = (user) => state.names[user] || user;
const roleName = (role) => t(`role.${role}`);
const agentLink = (user, name, date) => h("a", { href: `#/agent/${encodeURIComponent(user)}/${date || dateValue()}` }, name || nameOf(user));
const customerLink = (id, name) => h("a", { href: `#/customer/${encodeURIComponent(id)}` }, name || t("customer"));
const label = (kind, code) => (state.labels && state.labels[kind] && state.labels[kind][code]) || code;
const tierText = (tier) => t(`tier.${tier}`);

/** A table that becomes a list of cards on a phone: each cell carries its column's name. */
function cardTable(id, headers, rows, foot) {
  const withLabels = (tr) => {
    [...tr.children].forEach((td, i) => { if (!td.hasAttribute("data-label")) td.setAttribute("data-label", headers[i] || ""); });
    return tr;
  };
  return h("div", { class: "table-wrap" }, h("table", { id, class: "cards" },
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, rows.map(withLabels)),
    foot ? h("tfoot", {}, withLabels(foot)) : ""));
}

// ----- views ------------------------------------------------------------------------------

const views = {
  async today() {
    const v = await api(`/v1/views/today?${q(`date=${dateValue()}`)}`);
    // Log and report: done, pending (before the evening deadline), missed, or unknown.
    // Synced during the day (partial): what came before the sync is known, what came after not.
    const stale = (fresh) => fresh === "behind" || fresh === "never";
    const evening = (done, fresh) => {
      if (done) return badge("ok", t("yes"));
      if (stale(fresh)) return badge("unknown", t("not_synced"));
      if (v.evening_pending) return badge("pending", t("pending"));
      if (fresh === "partial") return badge("unknown", t("not_yet_known"));
      return badge("bad", t("no"));
    };
    const met = (ok, fresh, pending) => {
      if (ok) return badge("ok", t("met"));
      if (stale(fresh)) return badge("unknown", t("not_synced"));
      if (pending) return badge("pending", t("pending"));
      if (fresh === "partial") return badge("unknown", t("not_yet_known"));
      return badge("bad", t("not_met"));
    };
    const count = (c, cls) => h("td", { class: `num ${cls}` }, h("span", { class: "figure" }, `${num(c.actual)} / ${num(c.target)}`), " ", bar(c.actual, c.target, c.met));
    const rows = v.agents.map((a) => {
      const x = a.today, f = a.freshness;
      return h("tr", { "data-agent": a.agent, class: stale(f) ? "not-synced" : "" },
        h("td", { class: "who" }, agentLink(a.agent, a.name, v.date)),
        h("td", { class: "fresh" }, freshness(a)),
        h("td", { class: "done num" }, bar(a.done_pct, 100, a.done_pct >= 100), " ", pct(a.done_pct)),
        count(x.effective_visits, "effective"),
        h("td", { class: "log" }, evening(x.work_log, f)),
        h("td", { class: "report" }, evening(x.evening_report, f)),
        h("td", { class: "met311" }, met(x.met_311, f, v.evening_pending)),
        count(x.calls, "calls"), count(x.meetings, "meetings"), count(x.results, "results"),
        h("td", { class: "met1031" }, met(x.met_10_3_1, f, v.evening_pending)));
    });
    const T = v.total;
    const tc = (c, cls) => h("td", { class: `num ${cls}` }, `${num(c.actual)} / ${num(c.target)}`, " ", bar(c.actual, c.target, c.target > 0 && c.actual >= c.target));
    const foot = h("tr", { class: "total", id: "today-total" },
      h("th", { scope: "row", class: "who" }, t("today.team_total")),
      h("td", {}, t("today.synced_of", { synced: T.synced, agents: T.agents })),
      h("td", { class: "num" }, bar(T.done_pct, 100, T.done_pct >= 100), " ", pct(T.done_pct)),
      tc(T.effective_visits, "effective"),
      h("td", {}, `${T.work_logs} / ${T.agents}`), h("td", {}, `${T.evening_reports} / ${T.agents}`),
      h("td", {}, `${T.met_311} / ${T.agents}`),
      tc(T.calls, "calls"), tc(T.meetings, "meetings"), tc(T.results, "results"),
      h("td", {}, `${T.met_10_3_1} / ${T.agents}`));
    const notSynced = v.agents.filter((a) => stale(a.freshness)).length;
    return [
      h("h2", {}, t("today.title", { date: day(v.date, true) }), " ", h("span", { class: "muted small" }, v.playbook.title)),
      h("p", { class: "muted" }, t("today.intro"), " ",
        v.evening_pending ? t("today.pending_until", { deadline: v.evening_deadline || "24:00" }) : "",
        notSynced ? [" ", h("strong", { class: "stale" }, t("today.not_synced_count", { n: notSynced }))] : ""),
      cardTable("today-table", [t("col.agent"), t("col.data"), t("col.done"), t("col.effective"), t("col.log"), t("col.report"),
        "311", t("col.calls"), t("col.meetings"), t("col.results"), "10-3-1"], rows, foot),
    ];
  },

  async week() { return period("week"); },
  async month() { return period("month"); },

  async pipeline() {
    const v = await api(`/v1/views/pipeline?${q(`date=${dateValue()}`)}`);
    const policyTable = (ps) => cardTable(null, [t("col.policy"), t("col.customer"), t("col.agent"), t("col.due"), t("col.premium"), t("col.status"), t("col.collected")],
      ps.map((p) => h("tr", {},
        h("td", {}, p.number), h("td", {}, customerLink(p.customer, p.customer_name)),
        h("td", {}, p.agent ? agentLink(p.agent, p.agent_name) : t("unassigned")), h("td", {}, day(p.due_date)), h("td", { class: "num" }, money(p.premium_cents)),
        h("td", {}, t(`status.${p.status}`)), h("td", {}, p.collected ? badge("ok", p.paid_on ? t("paid_on", { date: shortDay(p.paid_on) }) : t("paid")) : badge("warn", t("not_yet"))))));
    const target = (m) => (m.target
      ? [t("pipeline.target", { basic: pct(m.target.target) }), m.target.good ? ` / ${pct(m.target.good)}` : "", m.target.excellent ? ` / ${pct(m.target.excellent)}` : "", " ",
        !m.total ? badge("unknown", t("n_a")) : m.target.tier ? badge(`tier-${m.target.tier}`, tierText(m.target.tier)) : badge("bad", t("below_target"))]
      : h("span", { class: "muted" }, t("pipeline.no_target")));
    const summary = v.months.length ? cardTable("pipeline-summary", [t("col.phase"), t("col.collected"), t("col.rate"), t("col.target")],
      v.months.map((m) => h("tr", { "data-phase": m.phase },
        h("th", { scope: "row" }, h("a", { href: `#pipeline-${m.phase}`, onclick: (ev) => { ev.preventDefault(); const d = document.getElementById(`pipeline-${m.phase}`); d.open = true; d.scrollIntoView(); } }, m.label)),
        h("td", { class: "num" }, t("pipeline.of", { collected: m.collected, total: m.total })),
        h("td", { class: "num" }, m.total ? [bar(m.rate_pct, m.target ? m.target.target : 0, m.target && m.target.met), " ", pct(m.rate_pct)] : t("n_a")),
        h("td", {}, target(m))))) : "";
    const months = v.months.map((m) => h("details", { class: "card", id: `pipeline-${m.phase}`, "data-phase": m.phase },
      h("summary", {}, h("strong", {}, m.label), " ", h("span", { class: "muted" }, t("pipeline.of", { collected: m.collected, total: m.total }))),
      m.policies.length ? policyTable(m.policies) : h("p", { class: "muted" }, t("none"))));
    const lists = v.lists.map((l) => h("details", { class: "card", "data-list": l.status },
      h("summary", {}, h("strong", {}, t(`status.${l.status}`)), " ", h("span", { class: "muted" }, `(${l.policies.length})`)),
      l.policies.length ? policyTable(l.policies) : h("p", { class: "muted" }, t("none"))));
    return [
      h("h2", {}, t("pipeline.title", { date: day(v.date, true), week: v.week })),
      v.calendar === "none" ? h("p", { class: "muted" }, t("pipeline.no_calendar")) : "",
      summary,
      h("div", { class: "lists-summary muted" }, v.lists.map((l) => h("span", { class: "chip" }, `${t(`status.${l.status}`)} ${l.policies.length}`))),
      months.length ? h("h3", {}, t("pipeline.months")) : "", months,
      h("h3", {}, t("pipeline.lists")), lists,
    ];
  },

  async problems() {
    const v = await api(`/v1/views/problems?${q()}`);
    if (!v.problems.length) return [h("h2", {}, t("problems.title")), h("p", { class: "muted" }, t("problems.none"))];
    return [h("h2", {}, t("problems.title")), v.problems.map((r) => {
      const p = r.problem;
      const text = h("textarea", { placeholder: t("problems.answer_placeholder"), "aria-label": t("problems.answer_placeholder") });
      const msg = h("p", { class: "error", role: "alert" });
      const act = (action) => async () => {
        msg.textContent = "";
        try { await api(`/v1/problems/${p.id}/answer`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ text: text.value, action }) }); render(); }
        catch (e) { msg.textContent = errorText(e); }
      };
      return h("div", { class: "card", "data-problem": p.id },
        h("div", {}, h("strong", {}, p.text)),
        h("p", { class: "muted" }, agentLink(r.agent, r.name, r.date), ` · ${day(r.date)}`, p.customer ? [" · ", customerLink(p.customer, r.customer_name)] : "", ` · ${t(`problem.${p.status}`)}`),
        h("div", { class: "chain" }, r.chain.map((c) => h("span", { class: `step ${c.state}`, title: t(`chain.${c.state}`) }, roleName(c.role)))),
        p.answers.map((a) => h("div", { class: "comment" }, `${nameOf(a.author)} (${roleName(a.role)}), ${when(a.at)}: ${a.text}`)),
        r.can_act ? h("div", { class: "actions" }, text, h("button", { onclick: act("resolve") }, t("problems.resolve")), " ",
          h("button", { class: "secondary", onclick: act("escalate") }, t("problems.escalate")), " ",
          h("button", { class: "secondary", onclick: act("note") }, t("problems.note")), msg) : "");
    })];
  },

  async "spot-check"() {
    const v = await api(`/v1/views/spot-check?${q(`date=${dateValue()}`)}`);
    const names = v.customer_names || {};
    return [h("h2", {}, t("spot.title", { week: v.week, from: shortDay(v.from), share: v.share_pct })),
      v.agents.length ? v.agents.map((a) => h("div", { class: "card", "data-agent": a.agent },
        h("h3", {}, agentLink(a.agent, a.name)),
        h("p", { class: "muted" }, t("spot.summary", { visits: a.visits.length, contacts: a.contacts.length,
          logs: a.days.filter((d) => d.log).length, reports: a.days.filter((d) => d.report).length })),
        h("ul", {}, a.visits.map((x) => {
          const far = a.far.find((f) => f.visit === x.id);
          return h("li", { "data-visit": x.id }, `${when(x.start)} — ${label("visit_kinds", x.kind)}: ${x.purposes.map((p) => label("purposes", p)).join("、")} `,
            customerLink(x.customer, names[x.customer]), x.notes ? ` — ${x.notes}` : "",
            far ? [" ", badge("bad far", t("spot.far", { distance: distance(far.distance_m) }))] : "");
        })),
        a.days.filter((d) => d.log).map((d) => h("p", {}, h("strong", {}, t("spot.log", { date: shortDay(d.date) })), " ", d.log.text)),
        checkedForm(a, v.date)))
        : h("p", { class: "muted" }, t("spot.none"))];
  },

  async playbook() {
    const p = await api(`/v1/team/playbook?${q()}`);
    const file = h("input", { type: "file", accept: ".toml,text/plain", id: "playbook-file" });
    const msg = h("p", { class: "error", role: "alert" });
    const preview = h("div", { id: "playbook-preview" });
    const show = (e) => { msg.textContent = errorText(e); if (e.status === 400 && e.message) msg.append(h("span", { class: "muted small" }, ` ${e.message}`)); };
    // First a preview: what the file would put in force, validated, nothing applied yet.
    const check = async () => {
      msg.textContent = ""; preview.replaceChildren();
      if (!file.files[0]) { msg.textContent = t("playbook.choose_file"); return; }
      const text = await file.files[0].text();
      let v;
      try { v = await api(`/v1/team/playbook/preview?${q()}`, { method: "POST", headers: { "content-type": "text/plain" }, body: text }); }
      catch (e) { show(e); return; }
      const apply = async () => {
        msg.textContent = "";
        try { await api(`/v1/team/playbook?${q()}`, { method: "PUT", headers: { "content-type": "text/plain" }, body: text }); render(); }
        catch (e) { show(e); }
      };
      const d = v.daily;
      preview.replaceChildren(h("div", { class: "card preview" },
        h("h3", {}, t("playbook.preview", { title: v.title })),
        h("p", {}, t("playbook.daily", { visits: d.effective_visits, calls: d.calls, meetings: d.meetings, results: d.results }),
          d.evening_deadline ? ` ${t("playbook.deadline", { time: d.evening_deadline.slice(0, 5) })}` : ""),
        cardTable("preview-targets", [t("col.target"), t("playbook.period"), t("playbook.numbers")], v.targets.map((x) => h("tr", {},
          h("td", {}, x.label), h("td", {}, t(`period.${x.period}`) + (x.week ? ` ${t("playbook.week_n", { week: x.week })}` : "")),
          h("td", { class: "num" }, [x.target, x.good, x.excellent].filter((n) => n !== null && n !== undefined).map((n) => (x.unit === "percent" ? pct(n) : num(n))).join(" / "))))),
        h("div", { class: "grid" }, ["visit_kinds", "outcomes"].map((kind) => h("div", {}, h("h3", {}, t(`playbook.${kind}`)),
          h("ul", { class: "labels" }, Object.values(v.labels[kind]).map((l) => h("li", {}, l)))))),
        v.may_apply ? h("button", { id: "playbook-apply", onclick: apply }, t("playbook.apply"))
          : h("p", { class: "muted", id: "playbook-not-yours" }, t("playbook.not_yours"))));
    };
    const list = (kind) => h("div", { class: "card" }, h("h3", {}, t(`playbook.${kind}`)),
      h("ul", { class: "labels" }, Object.entries(p.labels[kind]).map(([code, l]) => h("li", {}, l, " ", h("code", { class: "muted small" }, code)))));
    return [h("h2", {}, t("playbook.title", { title: p.title })), h("p", { class: "muted" }, `${p.name} · ${p.hash.slice(0, 12)}`),
      h("div", { class: "grid" }, ["visit_kinds", "purposes", "contact_purposes", "outcomes", "grades"].map(list)),
      h("div", { class: "card" }, h("p", {}, t("playbook.upload_intro")), file, " ", h("button", { onclick: check, id: "playbook-upload" }, t("playbook.check")), msg, preview),
      h("details", {}, h("summary", {}, t("playbook.file")), h("pre", {}, p.toml))];
  },

  /** The team's customers to reassign: orphans first, each with a one-click hand-over; then
   *  the rest, searchable by name, agent or postcode. */
  async customers() {
    const list = await api("/v1/team/customers");
    const orphans = list.filter((c) => c.orphan), rest = list.filter((c) => !c.orphan);
    const handOver = (c) => {
      if (!state.agents.length) return "";
      const select = h("select", { "aria-label": t("reassign.to") }, state.agents.map((a) => h("option", { value: a.user }, a.name || a.user)));
      const msg = h("span", { class: "error", role: "alert" });
      const go = async () => {
        msg.textContent = "";
        try {
          await api(`/v1/customers/${encodeURIComponent(c.id)}/assign`, { method: "POST", headers: { "content-type": "application/json" },
            body: JSON.stringify({ agent: select.value }) });
          render();
        } catch (e) { msg.textContent = errorText(e); }
      };
      return [select, " ", h("button", { class: "reassign", onclick: go }, t("reassign.go")), msg];
    };
    const agentCell = (c) => (c.agent ? [c.agent_name || c.agent, c.orphan === "deactivated" ? [" ", badge("bad", t("team.deactivated"))] : ""] : t("unassigned"));
    const row = (c, withHandOver) => h("tr", { "data-customer": c.id },
      h("td", { class: "who" }, customerLink(c.id, c.name)), h("td", {}, agentCell(c)), h("td", {}, c.postcode || ""),
      h("td", { class: "num" }, nf.format(c.policies), c.orphan_policies ? h("span", { class: "muted small" }, ` ${t("customers.orphan_policies", { n: nf.format(c.orphan_policies) })}`) : ""),
      withHandOver ? h("td", {}, handOver(c)) : null);
    const search = h("input", { type: "search", id: "customer-search", placeholder: t("customers.search"), "aria-label": t("customers.search") });
    const restTable = cardTable("customers-rest", [t("col.customer"), t("col.agent"), t("field.postcode"), t("customers.policies")], rest.map((c) => row(c, false)));
    search.addEventListener("input", () => {
      const q = search.value.trim().toLowerCase();
      for (const tr of restTable.querySelectorAll("tbody tr")) tr.style.display = q === "" || tr.textContent.toLowerCase().includes(q) ? "" : "none";
    });
    return [h("h2", {}, t("customers.title")),
      h("h3", {}, t("customers.orphans", { n: nf.format(orphans.length) })),
      orphans.length ? [h("p", { class: "muted" }, t("customers.orphans_intro")),
        cardTable("orphans", [t("col.customer"), t("col.agent"), t("field.postcode"), t("customers.policies"), t("reassign.to")], orphans.map((c) => row(c, true)))]
        : h("p", { class: "muted", id: "no-orphans" }, t("customers.no_orphans")),
      h("h3", {}, t("customers.rest", { n: nf.format(rest.length) })), search, restTable];
  },

  async team() {
    const [members, devices] = await Promise.all([api("/v1/team/members"), api("/v1/team/devices")]);
    const ROLES = ["agent", "supervisor", "department_manager", "district_manager"];
    const below = ROLES.slice(0, Math.max(0, ROLES.indexOf(state.me.role)));
    const addForm = () => {
      if (!below.length) return "";
      const user = h("input", { id: "new-user", autocomplete: "off", required: true });
      const name = h("input", { id: "new-name", autocomplete: "off" });
      const role = h("select", { id: "new-role" }, below.map((r) => h("option", { value: r }, roleName(r))));
      const msg = h("p", { class: "error", role: "alert" });
      const add = async (ev) => {
        ev.preventDefault();
        msg.textContent = "";
        try {
          await api("/v1/team/members", { method: "POST", headers: { "content-type": "application/json" },
            body: JSON.stringify({ user: user.value, name: name.value, role: role.value }) });
          await loadNames();
          render();
        } catch (e) { msg.textContent = e.status === 409 ? t("team.taken") : errorText(e); if (e.status === 400 && e.message) msg.append(h("span", { class: "muted small" }, ` ${e.message}`)); }
      };
      return h("form", { class: "card add-member", onsubmit: add }, h("h3", {}, t("team.add")),
        h("label", {}, t("login.user"), " ", user), " ", h("label", {}, t("field.name"), " ", name), " ",
        h("label", {}, t("team.role"), " ", role), " ", h("button", { id: "add-member", type: "submit" }, t("team.add_button")), msg);
    };
    // A phone for a member below the caller: the one-time enrolment link and its QR code
    // (an SVG drawn by the server, shown as an image), in a card above the tables.
    const issued = h("div", { id: "issued", "aria-live": "polite" });
    const issuePhone = (m) => {
      const msg = h("span", { class: "error", role: "alert" });
      const button = h("button", { class: "secondary issue", onclick: async () => {
        msg.textContent = "";
        button.disabled = true;
        try {
          const d = await api("/v1/team/devices", { method: "POST", headers: { "content-type": "application/json" },
            body: JSON.stringify({ user: m.user, server: location.origin }) });
          issued.replaceChildren(h("div", { class: "card issued" },
            h("h3", {}, t("team.issued_title", { name: m.name || m.user })),
            h("img", { class: "qr", alt: t("team.qr_alt"), src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(d.qr_svg)}` }),
            h("p", {}, t("team.issued_intro")), h("p", { class: "link" }, h("code", {}, d.link)),
            h("p", { class: "muted small" }, t("team.issued_once"))));
          issued.scrollIntoView({ block: "nearest" });
        } catch (e) { msg.textContent = errorText(e); }
        button.disabled = false;
      } }, t("team.issue"));
      return [button, msg];
    };
    // Deactivate (two steps: their phones wipe, they leave the lists) or reactivate.
    const activity = (m) => {
      const msg = h("span", { class: "error", role: "alert" });
      let armed = false;
      const what = m.active ? "deactivate" : "reactivate";
      const button = h("button", { class: `secondary ${what}`, onclick: async () => {
        if (m.active && !armed) { armed = true; button.textContent = t("team.confirm_deactivate", { name: m.name || m.user }); button.className = "danger deactivate"; return; }
        try { await api(`/v1/team/members/${encodeURIComponent(m.user)}/${what}`, { method: "POST" }); render(); }
        catch (e) { msg.textContent = errorText(e); }
      } }, t(`team.${what}`));
      return [button, msg];
    };
    const memberRows = members.map((m) => h("tr", { "data-member": m.user, class: m.active === false ? "revoked" : "" },
      h("td", { class: "who" }, m.role === "agent" ? agentLink(m.user, m.name) : m.name, " ", h("span", { class: "muted small" }, m.user)),
      h("td", {}, roleName(m.role)), h("td", {}, m.reports_to ? nameOf(m.reports_to) : ""),
      h("td", {}, m.last_sync ? when(m.last_sync) : t("fresh.never")),
      h("td", { class: "state" }, m.active === false ? badge("bad", t("team.deactivated")) : badge("ok", t("team.active"))),
      h("td", {}, below.includes(m.role) ? [m.active === false ? "" : issuePhone(m), " ", activity(m)] : "")));
    const rows = devices.map((d) => {
      const msg = h("span", { class: "error", role: "alert" });
      let armed = false;
      const button = d.may_revoke ? h("button", { class: "secondary revoke", onclick: async () => {
        // Two steps: a revoked phone wipes its data at its next sync.
        if (!armed) { armed = true; button.textContent = t("team.confirm_revoke", { name: d.name || d.user }); button.className = "danger revoke"; return; }
        try { await api(`/v1/devices/${encodeURIComponent(d.id)}/revoke`, { method: "POST" }); render(); }
        catch (e) { msg.textContent = errorText(e); }
      } }, t("team.revoke")) : null;
      return h("tr", { "data-device": d.id, class: d.revoked ? "revoked" : "" },
        h("td", { class: "who" }, d.role === "agent" ? agentLink(d.user, d.name) : (d.name || d.user), " ", h("span", { class: "muted small" }, roleName(d.role))),
        h("td", {}, day(d.created_at.slice(0, 10))),
        h("td", {}, d.last_sync ? when(d.last_sync) : t("fresh.never")),
        h("td", { class: "state" }, d.revoked ? badge("bad", t("team.revoked")) : badge("ok", t("team.active"))),
        h("td", {}, button || "", msg));
    });
    return [h("h2", {}, t("team.title")),
      issued,
      cardTable("members", [t("col.member"), t("team.role"), t("team.reports_to"), t("team.last_sync"), t("col.status"), ""], memberRows),
      addForm(),
      h("h3", {}, t("team.phones")), h("p", { class: "muted" }, t("team.intro")),
      cardTable("devices", [t("col.member"), t("team.issued"), t("team.last_sync"), t("col.status"), ""], rows)];
  },

  async customer(id) {
    let c;
    try { c = await api(`/v1/customers/${encodeURIComponent(id)}`); }
    catch (e) { if (e.status === 404) return notFound(); throw e; }
    const card = c.customer;
    const field = (k, v) => (v ? h("tr", {}, h("th", {}, k), h("td", {}, v)) : "");
    return [
      h("h2", { id: "customer-name" }, card.name),
      reassignCard(card, c.policies.some((p) => p.status === "orphan") || (!!card.agent && !state.agents.some((a) => a.user === card.agent))),
      h("table", { class: "card fields" }, h("tbody", {}, field(t("col.agent"), card.agent ? agentLink(card.agent) : t("unassigned")), field(t("field.phones"), card.phones.join(", ")),
        field(t("field.address"), card.address), field(t("field.postcode"), card.postcode), field(t("field.birthday"), card.birthday && day(card.birthday)),
        field(t("field.grade"), card.grade && label("grades", card.grade)), field(t("col.status"), card.status && t(`customer_status.${card.status}`)),
        field(t("field.family"), card.family), field(t("field.notes"), card.notes))),
      h("h3", {}, t("customer.policies")),
      c.policies.length ? cardTable("policies", [t("col.policy"), t("field.product"), t("col.due"), t("col.premium"), t("col.status"), t("col.collected")],
        c.policies.map((p) => h("tr", {}, h("td", {}, p.number), h("td", {}, p.product), h("td", {}, day(p.due_date)),
          h("td", { class: "num" }, money(p.premium_cents)), h("td", {}, t(`status.${p.status}`)), h("td", {}, p.paid_on ? t("paid_on", { date: day(p.paid_on) }) : "")))) : h("p", { class: "muted" }, t("none")),
      h("h3", {}, t("customer.visits")),
      h("ul", { class: "timeline" }, c.visits.map((v) => h("li", {}, h("strong", {}, `${t("customer.visit_no", { n: v.number })} ${when(v.start)}`),
        ` ${nameOf(v.agent)} — ${label("visit_kinds", v.kind)}: ${v.purposes.map((p) => label("purposes", p)).join("、")}`,
        v.outcome ? ` → ${label("outcomes", v.outcome.code)}` : "", v.notes ? h("div", {}, v.notes) : "",
        c.comments.filter((x) => x.visit === v.id).map((x) => h("div", { class: "comment" }, `${nameOf(x.author)} (${roleName(x.role)}): ${x.text}`))))),
      h("h3", {}, t("customer.contacts")),
      h("ul", { class: "timeline" }, c.contacts.map((x) => h("li", { class: x.kind }, `${when(x.at)} ${nameOf(x.agent)} — ${t(`contact.${x.kind}`)} ${x.purpose ? label("contact_purposes", x.purpose) : ""}`,
        x.outcome ? ` → ${label("outcomes", x.outcome)}` : "", x.notes ? ` — ${x.notes}` : ""))),
      h("h3", {}, t("customer.history")),
      h("ul", { class: "timeline history", id: "history" }, historyItems(c.history).reverse()),
    ];
  },

  async agent(user, date) {
    const d = date || dateValue();
    let v;
    try { v = await api(`/v1/agents/${encodeURIComponent(user)}/day?${q(`date=${d}`)}`); }
    catch (e) { if (e.status === 404) return notFound(); throw e; }
    const log = v.day && v.day.log, report = v.day && v.day.report;
    return [
      h("h2", {}, `${v.name} — ${day(v.date, true)}`), h("p", {}, freshness(v)),
      h("div", { class: "grid" },
        h("div", { class: "card" }, h("h3", {}, t("col.log")), log ? log.text : h("span", { class: "muted" }, t("agent.no_log"))),
        h("div", { class: "card" }, h("h3", {}, t("col.report")), report ? [report.summary, h("ul", {}, report.problems.map((p) => h("li", {}, p.text)))] : h("span", { class: "muted" }, t("agent.no_report")))),
      h("h3", {}, t("agent.timeline")),
      v.timeline.length ? h("ul", { class: "timeline", id: "timeline" }, v.timeline.map((e) => {
        const text = h("textarea", { placeholder: t("agent.comment_placeholder"), "aria-label": t("agent.comment_placeholder") });
        const msg = h("p", { class: "error", role: "alert" });
        const send = async () => {
          msg.textContent = "";
          try { await api(`/v1/visits/${e.id}/comments`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ text: text.value }) }); render(); }
          catch (err) { msg.textContent = errorText(err); }
        };
        return h("li", { class: e.kind, "data-id": e.id },
          h("strong", {}, `${time(e.at)}${e.end ? "–" + time(e.end) : ""} ${t(`contact.${e.kind}`)}`), " ", customerLink(e.customer, e.customer_name), ` — ${e.what}`,
          e.effective === true ? [" ", badge("ok", t("agent.effective"))] : e.effective === false ? [" ", badge("warn", t("agent.not_effective"))] : "",
          e.notes ? h("div", {}, e.notes) : "",
          e.comments.map((x) => h("div", { class: "comment" }, `${nameOf(x.author)} (${roleName(x.role)}): ${x.text}`)),
          e.kind === "visit" ? h("div", { class: "actions" }, text, h("button", { onclick: send }, t("agent.comment")), msg) : "");
      })) : h("p", { class: "muted" }, t("agent.nothing")),
    ];
  },
};

/** The spot check's conclusion on an agent's week: who checked, when, what they noted; or the
 *  form to mark it checked. */
function checkedForm(a, date) {
  const note = h("textarea", { placeholder: t("spot.note"), "aria-label": t("spot.note") });
  const msg = h("p", { class: "error", role: "alert" });
  const mark = async () => {
    msg.textContent = "";
    try {
      await api(`/v1/agents/${encodeURIComponent(a.agent)}/spot-check?date=${date}`, { method: "POST",
        headers: { "content-type": "application/json" }, body: JSON.stringify({ note: note.value }) });
      render();
    } catch (e) { msg.textContent = errorText(e); }
  };
  const c = a.checked;
  return h("div", { class: "actions checked" },
    c ? h("p", { class: "done" }, badge("ok", t("spot.checked")), " ", t("spot.checked_by", { name: c.by_name || nameOf(c.by), when: when(c.at) }),
      c.note ? [": ", h("span", { class: "note" }, c.note)] : "") : "",
    note, h("button", { class: c ? "secondary" : "", onclick: mark }, t(c ? "spot.recheck" : "spot.mark")), msg);
}

/** A manager hands the customer to another agent of the team (orphans' cards say so first). */
function reassignCard(card, orphan) {
  const others = state.agents.filter((a) => a.user !== card.agent);
  if (!others.length) return "";
  const select = h("select", { id: "reassign-agent", "aria-label": t("reassign.to") },
    others.map((a) => h("option", { value: a.user }, a.name || a.user)));
  const msg = h("p", { class: "error", role: "alert" });
  const go = async () => {
    msg.textContent = "";
    try {
      await api(`/v1/customers/${encodeURIComponent(card.id)}/assign`, { method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ agent: select.value }) });
      render();
    } catch (e) { msg.textContent = errorText(e); }
  };
  return h("div", { class: `card reassign${orphan ? " orphan" : ""}` },
    orphan ? h("p", {}, h("strong", {}, t("reassign.orphan"))) : "",
    h("label", {}, t("reassign.to"), " ", select), " ", h("button", { id: "reassign", onclick: go }, t("reassign.go")), msg);
}

/** The customer's history in words, oldest first, each card change with the value before it. */
function historyItems(history) {
  const seen = {};
  return history.map((e) => {
    const item = h("li", {}, h("strong", {}, when(e.at)), " ", historyWords(e, seen),
      e.via ? h("span", { class: "muted small" }, ` · ${t("history.via", { via: e.via === "admin" ? t("history.admin") : e.via })}`) : "");
    return item;
  });
}

/** One change of a customer's history in words: who did what ("Li Na changed the grade from B
 *  to A"); `seen` holds each card field's value so far. */
function historyWords(e, seen) {
  const who = e.user ? `${nameOf(e.user)}${e.role ? ` (${roleName(e.role)})` : ""}` : t("history.system");
  const FIELDS = { grade: "field.grade", name: "field.name", phones: "field.phones", address: "field.address", postcode: "field.postcode",
    birthday: "field.birthday", family: "field.family", notes: "field.notes", status: "col.status", agent: "col.agent", workplace: "field.workplace" };
  const what = (e.changes || []).map((line) => {
    let m = /^card\.(\w+) = (.*)$/.exec(line);
    if (m) {
      const value = m[2].replace(/^"(.*)"$/, "$1");
      const field = FIELDS[m[1]] ? t(FIELDS[m[1]]) : m[1];
      const show = (x) => (m[1] === "grade" ? label("grades", x) : m[1] === "agent" ? nameOf(x) : x);
      const before = seen[m[1]];
      seen[m[1]] = value;
      if (before !== undefined && before !== value) return t("history.changed_from", { field, from: show(before), to: show(value) });
      return t("history.set", { field, value: show(value) });
    }
    m = /^(visits|contacts|comments|problems|policies)\/[^ .]+ added$/.exec(line);
    if (m) return t(`history.added.${m[1]}`);
    m = /^(visits|contacts|comments|problems|policies)\/[^ .]+\.(\w+)/.exec(line);
    if (m) return t(`history.changed.${m[1]}`);
    if (/^card(\.| )/.test(line) || /^card$/.test(line)) return t("history.card");
    return line;
  });
  const unique = [...new Set(what)];
  return h("span", {}, h("span", { class: "who" }, who), " ", unique.length ? unique.join(t("list_sep")) : t("history.created"));
}

async function period(kind) {
  const v = await api(`/v1/views/${kind}?${q(`date=${dateValue()}`)}`);
  const fmt = (col, x) => (col.unit === "percent" ? pct(x) : num(x));
  const cell = (col, p) => {
    if (!p) return h("td", { class: "cell na" }, "—");
    // A rate over an empty pool is neither met nor missed (client-core's `Standing`).
    if (p.standing === "n/a") return h("td", { class: "cell na", title: col.label }, t("n_a"));
    const cls = p.met ? `tier-${p.tier || "basic"}` : p.percent >= 50 ? "tier-near" : "tier-miss";
    return h("td", { class: `cell num ${cls}`, title: `${col.label}: ${fmt(col, p.actual)} / ${fmt(col, p.target)}` },
      h("span", { class: "figure" }, fmt(col, p.actual)), h("span", { class: "of muted" }, ` / ${fmt(col, p.target)}`));
  };
  const header = (col) => h("span", {}, col.label, h("span", { class: "unit muted" }, col.unit === "percent" ? ` (%)` : ` (${t("unit.count")})`));
  const rows = v.agents.map((a) => {
    const byLabel = {};
    for (const p of a.progress.targets) byLabel[`${p.metric}|${p.label}`] = p;
    return h("tr", { "data-agent": a.agent },
      h("th", { scope: "row", class: "who" }, agentLink(a.agent, a.name), h("div", { class: "small" }, freshness(a))),
      h("td", { class: "all" }, a.progress.all_met ? badge("ok", t("all_met")) : badge("warn", t("not_all_met"))),
      v.columns.map((col) => cell(col, byLabel[`${col.metric}|${col.label}`])));
  });
  const grid = v.columns.length
    ? cardTable("grid", [t("col.agent"), t("col.all"), ...v.columns.map((c) => c.label)], rows)
    : h("p", { class: "muted" }, t("period.no_targets"));
  // Column headers with units (the card labels keep the plain name).
  if (v.columns.length) grid.querySelectorAll("thead th").forEach((th, i) => { if (i >= 2) th.replaceChildren(header(v.columns[i - 2])); });
  const r = v.ratios;
  const ratios = cardTable("ratios", [t("col.ratio"), t("col.actual"), "", t("col.target"), t("col.agents")], r.ratios.map((x) => h("tr", {},
    h("th", { scope: "row" }, x.label), h("td", { class: "num" }, pct(x.actual_pct)),
    h("td", {}, bar(x.actual_pct, x.min_pct, x.met)),
    h("td", {}, `${pct(x.min_pct)}${x.max_pct ? "–" + pct(x.max_pct) : ""}`, " ", x.met ? badge("ok", t("met")) : x.standing === "n/a" ? badge("unknown", t("n_a")) : badge("bad", t("below_target"))),
    h("td", { class: "muted small" }, x.agents.map(nameOf).join("、")))));
  const title = kind === "week" ? t("week.title", { date: day(v.date, true), week: v.week }) : t("month.title", { month: monthName(v.date) });
  return [
    h("h2", {}, title, " ", h("span", { class: "muted small" }, v.playbook.title)),
    h("div", { class: "legend muted small" }, t("legend"), " ", ["excellent", "good", "basic", "near", "miss"].map((x) => h("span", { class: `chip tier-${x}` }, t(`tier.${x}`)))),
    grid,
    h("div", { class: "card" }, h("h3", {}, t(kind === "week" ? "ratios.week" : "ratios.month", { agents: r.agents, spot: r.spot_check })), ratios, trendChart(v.trend, kind)),
  ];
}

/** Inline SVG: each ratio's share of agents per week (or month). Lines that sit on the same
 *  values are drawn a little apart and each point is marked, so several lines at 0 stay
 *  readable; the last label is anchored at its end so it is never cut. */
function trendChart(trend, kind) {
  if (!trend.length) return "";
  const W = 640, H = 200, L = 40, R = 16, B = 30, T = 12;
  const measures = trend[0].ratios.map((r) => [r.measure, r.label]);
  const colors = ["#1a5fb4", "#1e8e3e", "#c77700", "#9141ac", "#c5221f", "#3d8a99"];
  const x = (i) => L + (trend.length === 1 ? (W - L - R) / 2 : (i * (W - L - R)) / (trend.length - 1));
  const y = (p) => T + (H - T - B) * (1 - Math.min(100, p) / 100);
  const svg = s("svg", { class: "trend", viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img", "aria-label": t("trend.title") });
  for (const p of [0, 50, 100]) {
    svg.append(s("line", { x1: L, x2: W - R, y1: y(p), y2: y(p), stroke: "#dde1e6" }), s("text", { x: L - 4, y: y(p) + 3, "text-anchor": "end" }, `${p}%`));
  }
  trend.forEach((p, i) => {
    const anchor = trend.length > 1 && i === trend.length - 1 ? "end" : i === 0 && trend.length > 1 ? "start" : "middle";
    const text = kind === "month" ? monthName(p.from) : t("trend.week", { date: shortDay(p.from), week: p.week });
    svg.append(s("text", { x: x(i), y: H - 10, "text-anchor": anchor }, text));
  });
  const offset = (k) => (k - (measures.length - 1) / 2) * 2.5;
  measures.forEach(([m], k) => {
    const pts = trend.map((p, i) => { const r = p.ratios.find((z) => z.measure === m); return [x(i), y(r ? r.actual_pct : 0) + offset(k)]; });
    const color = colors[k % colors.length];
    svg.append(s("polyline", { points: pts.map((p) => p.join(",")).join(" "), fill: "none", stroke: color, "stroke-width": 2, "stroke-dasharray": k % 2 ? "6 3" : "" }));
    for (const [px, py] of pts) svg.append(s("circle", { cx: px, cy: py, r: 3, fill: color }));
  });
  const legend = h("div", { class: "muted small legend" }, measures.map(([, name], k) => h("span", { style: `color:${colors[k % colors.length]}` }, `■ ${name}`)));
  return h("div", {}, h("h3", {}, t(kind === "month" ? "trend.per_month" : "trend.per_week")), svg, legend);
}

// ----- routing, login, live updates -----------------------------------------------------------

function route() {
  const parts = (location.hash || "#/today").slice(2).split("/").map((p) => { try { return decodeURIComponent(p); } catch (e) { return p; } });
  return { name: parts[0] || "today", args: parts.slice(1) };
}

async function render() {
  const { name, args } = route();
  const view = Object.prototype.hasOwnProperty.call(views, name) ? views[name] : null;
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.view === name);
  const ticket = ++state.rendering;
  if (!view) { $("#view").replaceChildren(...notFound()); return; }
  // A loading note when a view takes longer than a blink.
  const slow = setTimeout(() => { if (ticket === state.rendering) $("#view").replaceChildren(h("p", { class: "muted loading", id: "loading" }, t("loading"))); }, 200);
  try {
    const content = await view(...args);
    if (ticket !== state.rendering) return; // a newer render won
    $("#view").replaceChildren(...[content].flat(3).filter((c) => c !== "" && c !== null && c !== undefined));
    $("#updated").textContent = ` · ${t("updated", { time: new Intl.DateTimeFormat(LANG, { timeStyle: "medium" }).format(new Date()) })}`;
  } catch (e) {
    if (e.status === 401) return;
    if (ticket === state.rendering) $("#view").replaceChildren(errorPanel(e, render));
    if (!(e instanceof ApiError)) console.error(e);
  } finally { clearTimeout(slow); }
}

/** Whether the manager is in the middle of something on the page (typing a comment or an
 *  answer, a playbook chosen or previewed) that a live refresh would throw away. */
function busy() {
  const fields = [...document.querySelectorAll("#view textarea, #view input[type=file], #view input[type=search]")];
  return fields.some((f) => f.value) || document.querySelector("#view .preview") !== null;
}

/** A live change: re-render soon, unless that would lose the manager's input; then say that
 *  newer data is there and let them load it. */
function refreshSoon() {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(() => {
    if (!busy()) { render(); return; }
    $("#updated").replaceChildren(" · ", h("button", { class: "link", id: "newer", onclick: render }, t("newer_data")));
  }, 150);
}

function listen() {
  if (state.events) state.events.close();
  const es = new EventSource("/v1/events");
  es.addEventListener("ready", () => { $("#live").classList.add("on"); $("#live").title = t("live.on"); });
  es.addEventListener("change", refreshSoon);
  es.onerror = () => { $("#live").classList.remove("on"); $("#live").title = t("live.off"); };
  state.events = es;
}

function showLogin() {
  if (state.events) { state.events.close(); state.events = null; }
  $("#app").hidden = true;
  $("#login").hidden = false;
}

/** Names of the team's members and the playbook's labels, for ids and codes on every page. */
async function loadNames() {
  try {
    const [members, pb] = await Promise.all([api("/v1/team/members"), api(`/v1/team/playbook?${q()}`)]);
    state.names = Object.fromEntries(members.map((m) => [m.user, m.name]));
    state.agents = members.filter((m) => m.role === "agent" && m.active !== false);
    state.labels = pb.labels;
  } catch (e) { if (e.status === 401) throw e; }
}

async function start() {
  try { state.me = await api("/v1/session"); }
  catch (e) { showLogin(); return; }
  $("#login").hidden = true;
  $("#app").hidden = false;
  $("#team").textContent = state.me.team;
  $("#me").textContent = `${state.me.name} · ${roleName(state.me.role)}`;
  if (!$("#date").value) $("#date").value = today();
  try { await loadNames(); } catch (e) { return; }
  listen();
  render();
}

function exportsLinks() {
  const d = dateValue();
  const first = d.slice(0, 8) + "01";
  $("#export-visits").href = `/v1/exports/visits.csv?from=${first}&to=${d}&${q()}`;
  $("#export-contacts").href = `/v1/exports/contacts.csv?from=${first}&to=${d}&${q()}`;
  $("#export-pipeline").href = `/v1/exports/pipeline.csv?date=${d}&${q()}`;
}

/** Fills the static page's words (elements marked data-i18n, data-i18n-title). */
function translatePage() {
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
  document.title = t("page.title");
  for (const sel of document.querySelectorAll(".lang-select")) sel.value = LANG;
}

$("#login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("#login-error").textContent = "";
  try {
    await api("/v1/session", { method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ user: $("#login-user").value, password: $("#login-password").value }) });
    await start();
  } catch (e) { $("#login-error").textContent = e.status === 401 ? t("login.wrong") : errorText(e); }
});
$("#logout").addEventListener("click", async () => { try { await fetch("/v1/session", { method: "DELETE" }); } finally { showLogin(); } });
$("#date").addEventListener("change", () => { exportsLinks(); render(); });
for (const sel of document.querySelectorAll(".lang-select")) {
  sel.addEventListener("change", () => {
    document.cookie = `doorstep_lang=${encodeURIComponent(sel.value)}; path=/; max-age=31536000; SameSite=Strict`;
    location.reload();
  });
}
window.addEventListener("hashchange", render);
translatePage();
$("#date").value = today();
exportsLinks();
start();
