// Corridor operator dashboard: polls /api/dashboard and draws plain SVG charts.
"use strict";
const NS = "http://www.w3.org/2000/svg";
const POLL_MS = 5000;

function el(tag, attrs, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

// "12967250.00" -> "12,967,250.00", on the string: no float on amounts.
function group(amount) {
  const [whole, frac] = amount.split(".");
  return whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",") + (frac !== undefined ? "." + frac : "");
}

function hhmm(iso) { return iso.slice(11, 16); }

function frame(w, h) {
  return el("svg", { width: "100%", viewBox: `0 0 ${w} ${h}`, role: "img" });
}

// Bars per time bucket, stacked series (values per point from `keys`).
function barChart(target, points, keys, colors, label) {
  const w = 560, h = 200, left = 40, bottom = 24, top = 8;
  const svg = frame(w, h);
  const max = Math.max(1, ...points.map(p => keys.reduce((s, k) => s + (p[k] || 0), 0)));
  const bw = (w - left - 8) / Math.max(points.length, 1);
  svg.appendChild(el("text", { x: 2, y: top + 8 }, String(max)));
  svg.appendChild(el("text", { x: 2, y: h - bottom }, "0"));
  points.forEach((p, i) => {
    let y = h - bottom;
    keys.forEach((k, j) => {
      const v = p[k] || 0, bh = (h - bottom - top) * v / max;
      y -= bh;
      const r = el("rect", { x: left + i * bw + 1, y, width: Math.max(bw - 2, 1), height: bh,
                             fill: colors[j], "data-value": v });
      r.appendChild(el("title", {}, `${hhmm(p.t)} ${k}: ${v}`));
      svg.appendChild(r);
    });
    if (i % Math.ceil(points.length / 8) === 0)
      svg.appendChild(el("text", { x: left + i * bw, y: h - 8 }, hhmm(p.t)));
  });
  svg.setAttribute("aria-label", label);
  target.replaceChildren(svg);
}

// Lines over time; `series` = [[key, color, dashed]].
function lineChart(target, points, series, fmt, label, fixedMax) {
  const w = 560, h = 200, left = 44, bottom = 24, top = 8;
  const svg = frame(w, h);
  const vals = points.flatMap(p => series.map(([k]) => p[k]).filter(v => v !== null));
  const max = fixedMax || Math.max(1e-9, ...vals);
  const x = i => left + (w - left - 8) * (points.length > 1 ? i / (points.length - 1) : 0.5);
  const y = v => h - bottom - (h - bottom - top) * v / max;
  svg.appendChild(el("text", { x: 2, y: top + 8 }, fmt(max)));
  svg.appendChild(el("text", { x: 2, y: h - bottom }, fmt(0)));
  for (const [k, color, dashed] of series) {
    const pts = points.map((p, i) => p[k] === null ? null : `${x(i)},${y(p[k])}`)
                      .filter(Boolean);
    if (!pts.length) continue;
    svg.appendChild(el("polyline", { points: pts.join(" "), fill: "none", stroke: color,
      "stroke-width": 2, "stroke-dasharray": dashed ? "5 4" : "", "data-series": k }));
  }
  points.forEach((p, i) => {
    if (i % Math.ceil(points.length / 8) === 0)
      svg.appendChild(el("text", { x: x(i) - 12, y: h - 8 }, hhmm(p.t)));
  });
  if (!vals.length) svg.appendChild(el("text", { x: w / 2 - 40, y: h / 2 }, "no data yet"));
  svg.setAttribute("aria-label", label);
  target.replaceChildren(svg);
}

// Horizontal bars with a label and a value text each.
function hbars(target, items, color, label) {
  const w = 560, rowH = 24, left = 170, room = 200;
  const svg = frame(w, Math.max(rowH * items.length + 8, 40));
  const max = Math.max(1, ...items.map(i => i.value));
  items.forEach((it, n) => {
    const y = 4 + n * rowH;
    svg.appendChild(el("text", { x: 0, y: y + 15 }, it.label));
    const bar = el("rect", { x: left, y: y + 3, height: rowH - 8, fill: it.color || color,
      width: Math.max(2, (w - left - room) * it.value / max), "data-value": it.value });
    svg.appendChild(bar);
    svg.appendChild(el("text", { x: left + (w - left - room) * it.value / max + 6, y: y + 15 },
                       it.text || String(it.value)));
  });
  if (!items.length) svg.appendChild(el("text", { x: 8, y: 24 }, "nothing to show"));
  svg.setAttribute("aria-label", label);
  target.replaceChildren(svg);
}

function table(target, head, rows) {
  const t = document.createElement("table");
  t.innerHTML = "<tr>" + head.map(h => `<th>${h}</th>`).join("") + "</tr>";
  for (const r of rows) {
    const tr = document.createElement("tr");
    for (const c of r) {
      const td = document.createElement("td");
      if (typeof c === "object" && c !== null) { td.textContent = c.text; td.className = c.cls; }
      else td.textContent = c;
      tr.appendChild(td);
    }
    t.appendChild(tr);
  }
  target.replaceChildren(t);
}

function kpi(value, label) {
  return `<div class="kpi"><b>${value}</b><span>${label}</span></div>`;
}

function render(d) {
  const pts = d.series.points;
  const done = pts.reduce((s, p) => s + p.completed, 0);
  const bad = pts.reduce((s, p) => s + p.unsuccessful, 0);
  const open = pts.reduce((s, p) => s + p.in_flight, 0);
  const rate = done + bad ? (100 * done / (done + bad)).toFixed(1) + "%" : "–";
  document.getElementById("kpis").innerHTML =
    kpi(done.toLocaleString("en"), "completed") + kpi(bad.toLocaleString("en"), "unsuccessful") +
    kpi(open.toLocaleString("en"), "in progress") + kpi(rate, "success rate") +
    kpi(d.feed.events.toLocaleString("en"), `events read (feed: ${d.feed.state})`);
  barChart(document.getElementById("volume"), pts, ["completed", "unsuccessful"],
           ["#2a9d8f", "#e76f51"], "transfers per period");
  lineChart(document.getElementById("success"), pts, [["success_rate", "#2a9d8f", false]],
            v => Math.round(v * 100) + "%", "success rate", 1);
  lineChart(document.getElementById("latency"), pts,
            [["latency_p50_s", "#457b9d", false], ["latency_p95_s", "#e76f51", true]],
            v => v.toFixed(1) + "s", "payout latency");
  hbars(document.getElementById("rejections"),
        d.rejections.map(r => ({ label: `${r.status.toLowerCase()}: ${r.code.replaceAll("_", " ")}`,
                                 value: r.count,
                                 color: r.status === "REJECTED" ? "#e76f51" : "#f4a261" })),
        "#e76f51", "rejections by reason");
  const st = d.settlement;
  document.getElementById("settle-hint").textContent =
    `Business day ${st.date} (${st.from.slice(0, 16).replace("T", " ")} to ` +
    `${st.to.slice(0, 16).replace("T", " ")} UTC): who pays whom so far.`;
  const byCur = {};
  for (const p of st.positions) {
    const v = Math.abs(parseFloat(p.net));
    byCur[p.currency] = Math.max(byCur[p.currency] || 0, v);
  }
  hbars(document.getElementById("positions"), st.positions.map(p => ({
    label: `${p.partner} (${p.currency})`,
    value: byCur[p.currency] ? Math.abs(parseFloat(p.net)) / byCur[p.currency] : 0,
    color: parseFloat(p.net) >= 0 ? "#457b9d" : "#a8dadc",
    text: parseFloat(p.net) >= 0 ? `hub pays ${group(p.owed_for_payouts)} ${p.currency}`
                                  : `float debited ${group(p.float_debited)} ${p.currency}` })),
    "#457b9d", "settlement positions");
  const c = d.compliance, holds = c.holds || {};
  table(document.getElementById("compliance"), ["measure", "count"], [
    ["screening hits", c.screening_hits],
    ["holds released", holds.release || 0], ["holds rejected", holds.reject || 0],
    ["holds awaiting an analyst", { text: String(holds.pending || 0),
                                    cls: holds.pending ? "warn" : "ok" }],
    ["large transfers", c.large],
    ["possible structuring (senders)", { text: String(c.structuring),
                                          cls: c.structuring ? "bad" : "ok" }],
  ]);
  const tun = document.getElementById("tunnels");
  if (d.tunnels === null) tun.textContent = "No tunnel monitor runs on this host.";
  else table(tun, ["partner", "state", "since"], d.tunnels.map(t => [t.partner,
    { text: t.label, cls: t.state === "up" ? "ok" : "bad" }, t.since]));
  const certs = document.getElementById("certs");
  if (!d.certificates.length) certs.textContent = "No certificates under pki/.";
  else table(certs, ["certificate", "expires", "days left"], d.certificates.slice(0, 12).map(
    x => [x.subject, x.expires.slice(0, 10),
          { text: String(x.days_left), cls: x.days_left < 14 ? "bad" : x.days_left < 30
                                                               ? "warn" : "ok" }]));
  document.getElementById("updated").textContent =
    `updated ${d.generated_at.replace("T", " ").replace("Z", " UTC")}`;
  document.body.dataset.loaded = d.generated_at;
}

async function refresh() {
  try {
    const resp = await fetch("api/dashboard", { cache: "no-store" });
    if (!resp.ok) throw new Error(`${resp.status}`);
    render(await resp.json());
  } catch (err) {
    document.getElementById("updated").textContent = `cannot refresh: ${err.message}`;
  }
}

refresh();
setInterval(refresh, POLL_MS);
