"use strict";
const $ = (id) => document.getElementById(id);
let readToken = null;
const text = (v) => (v === null || v === undefined ? "-" : String(v));
function cells(tr, values) {
  for (const v of values) { const td = document.createElement("td"); td.textContent = text(v); tr.appendChild(td); }
  return tr;
}
// Tables are rebuilt only when their rows change, so a button in them (approve,
// reject) is not replaced under the operator's pointer on every update.
const shown = {};
function fill(id, rows, map, extra) {
  const key = JSON.stringify([rows, extra]);
  if (shown[id] === key) return;
  shown[id] = key;
  const body = $(id); body.replaceChildren();
  for (const r of rows) body.appendChild(map(r));
}
function render(d) {
  const s = d.status;
  $("name").textContent = "vigil agent · " + s.name;
  $("clock").textContent = "engine time " + text(s.last_event_time) + " · seq " + s.seq;
  const st = $("state"); st.textContent = s.trading_state || "-"; st.className = "state-" + s.trading_state;
  $("phase").textContent = s.phase;
  const money = (v) => (v === undefined || v === "" ? "-" : Number(v).toFixed(2));
  $("equity").textContent = money(s.equity); $("cash").textContent = money(s.cash);
  $("lag").textContent = Number(s.feed_lag_seconds).toFixed(2) + " s";
  $("rejects").textContent = s.feed_rejects;
  fill("positions", s.positions, (p) => cells(document.createElement("tr"), [p.instrument, p.qty, p.avg_price, p.mark, p.unrealised_pnl]));
  fill("orders", s.open_orders, (o) => cells(document.createElement("tr"), [o.id, o.instrument, o.side, o.status]));
  fill("held", s.held_orders, (h) => {
    const tr = cells(document.createElement("tr"), [h.id, h.side + " " + h.size + " " + h.instrument + " " + h.kind, h.notional, h.other_rules, h.expires_at, h.hash.slice(0, 16) + "…"]);
    const td = document.createElement("td");
    if (d.controls) {
      for (const a of ["approve", "reject"]) {
        const b = document.createElement("button"); b.textContent = a;
        b.onclick = () => send(a, JSON.stringify({ id: h.id, hash: h.hash }));
        td.appendChild(b);
      }
    }
    tr.appendChild(td); return tr;
  }, d.controls);
  fill("fills", (s.recent_fills || []).slice().reverse(), (f) => cells(document.createElement("tr"), [f.ts, f.order_id, f.instrument, f.side, f.qty, f.price, f.fee]));
  fill("verdicts", Object.entries(s.counters.verdicts), ([k, v]) => cells(document.createElement("tr"), [k, v]));
  const errs = Object.entries(s.control.rejected).map(([k, v]) => "refused " + k + ": " + v).concat(s.recent_errors || []);
  fill("errors", errs, (e) => cells(document.createElement("tr"), [e]));
  $("controls").style.display = d.controls ? "block" : "none";
  draw(d.equity);
}
function draw(points) {
  if (!points || points.length < 2) { $("curve").setAttribute("points", ""); return; }
  const ys = points.map((p) => Number(p[1]));
  const lo = Math.min(...ys), hi = Math.max(...ys), span = hi - lo || 1;
  const pts = ys.map((y, i) => (i * 1000 / (ys.length - 1)).toFixed(1) + "," + (150 - (y - lo) * 140 / span).toFixed(1));
  $("curve").setAttribute("points", pts.join(" "));
}
async function stream() {
  const headers = readToken ? { Authorization: "Bearer " + readToken } : {};
  let r;
  try { r = await fetch("/v1/stream", { headers }); } catch (e) { $("conn").textContent = "disconnected; retrying"; setTimeout(stream, 1000); return; }
  if (r.status === 401) { $("conn").textContent = "this agent needs a read token"; $("read").style.display = "block"; return; }
  if (!r.ok) { $("conn").textContent = "server answered " + r.status + "; retrying"; setTimeout(stream, 2000); return; }
  $("conn").textContent = "live"; $("read").style.display = "none";
  const reader = r.body.getReader(); const dec = new TextDecoder(); let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const chunk = buf.slice(0, i); buf = buf.slice(i + 2);
      const data = chunk.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
      if (data) render(JSON.parse(data));
    }
  }
  $("conn").textContent = "disconnected; retrying"; setTimeout(stream, 1000);
}
function hex(buf) { return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join(""); }
function unhex(s) {
  s = s.trim();
  if (s.length % 2 || /[^0-9a-fA-F]/.test(s)) throw new Error("the secret must be hex");
  return new Uint8Array(s.match(/../g).map((b) => parseInt(b, 16)));
}
async function send(action, body) {
  const out = $("result");
  try {
    const keyId = $("keyid").value.trim();
    const key = await crypto.subtle.importKey("raw", unhex($("secret").value), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    const path = "/v1/control/" + action;
    const ts = Math.floor(Date.now() / 1000);
    const nonce = hex(crypto.getRandomValues(new Uint8Array(16)));
    const bytes = new TextEncoder().encode(body);
    const digest = hex(await crypto.subtle.digest("SHA-256", bytes));
    const message = ["vigil-v1", "POST", path, ts, nonce, digest].join("\n");
    const sig = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(message));
    const signature = btoa(String.fromCharCode(...new Uint8Array(sig)));
    const r = await fetch(path, { method: "POST", body: bytes, headers: {
      "content-type": "application/json", "x-vigil-key": keyId, "x-vigil-timestamp": String(ts),
      "x-vigil-nonce": nonce, "x-vigil-signature": signature } });
    const v = await r.json();
    out.textContent = action + ": " + (v.accepted ? (v.applied ? "applied" : "not applied: " + (v.outcome && v.outcome.reason)) : "refused (" + v.reason + ")") + (v.trading_state ? "; state " + v.trading_state : "");
    out.dataset.outcome = v.accepted && v.applied ? "applied" : "refused";
  } catch (e) {
    out.textContent = action + ": " + e.message; out.dataset.outcome = "error";
  }
}
for (const b of document.querySelectorAll("button[data-action]")) b.onclick = () => send(b.dataset.action, "{}");
$("connect").onclick = () => { readToken = $("token").value.trim(); stream(); };
stream();
