"use strict";
// The live map: grids from /api/v1/grids (GeoJSON), devices from /api/v1/devices, alerts
// from the SSE stream. Everything comes from this server: no tiles, no CDN.
const API = "/api/v1";
const svg = document.getElementById("map");
const NS = "http://www.w3.org/2000/svg";
let token = sessionStorage.getItem("gridpatrol-token") || "";
let project = null;
let markerR = 0.0002;
let dayStart = null; // today's 00:00 in the deployment's time zone, from /grids
const gridPaths = {};
const gridProps = {};
let selected = null;

function headers() { return token ? { Authorization: "Bearer " + token } : {}; }

async function api(path) {
  const r = await fetch(API + path, { headers: headers() });
  if (r.status === 401) { document.getElementById("login").hidden = false; throw new Error("token needed"); }
  if (!r.ok) throw new Error((await r.json()).error.message);
  return r.json();
}

document.getElementById("save-token").onclick = () => {
  token = document.getElementById("token").value.trim();
  sessionStorage.setItem("gridpatrol-token", token);
  document.getElementById("login").hidden = true;
  start();
};

function rings(geometry) {
  if (!geometry) return [];
  if (geometry.type === "Polygon") return geometry.coordinates;
  return geometry.coordinates.flat();
}

function makeProjection(features) {
  let [w, s, e, n] = [180, 90, -180, -90];
  for (const f of features) for (const ring of rings(f.geometry)) for (const [x, y] of ring) {
    w = Math.min(w, x); e = Math.max(e, x); s = Math.min(s, y); n = Math.max(n, y);
  }
  const k = Math.cos(((s + n) / 2) * Math.PI / 180);
  const width = (e - w) * k, height = n - s, pad = 0.03 * Math.max(width, height);
  svg.setAttribute("viewBox", `${-pad} ${-pad} ${width + 2 * pad} ${height + 2 * pad}`);
  markerR = 0.006 * Math.max(width, height);
  return (x, y) => [(x - w) * k, n - y];
}

function pathOf(geometry) {
  return rings(geometry).map(r => "M" + r.map(([x, y]) => project(x, y).join(",")).join("L") + "Z").join("");
}

function setStatus(id, status) {
  const p = gridPaths[id];
  if (p) p.setAttribute("class", "grid " + status + (selected === id ? " selected" : ""));
  if (gridProps[id]) gridProps[id].status = status;
  summarise();
}

function summarise() {
  const leaves = Object.values(gridProps).filter(p => p.is_leaf);
  const overdue = leaves.filter(p => p.status === "overdue").length;
  document.getElementById("summary").textContent =
    `${leaves.length} grids · ${overdue} overdue · ${document.querySelectorAll("circle.device").length} devices`;
}

async function drawGrids() {
  const fc = await api("/grids");
  dayStart = fc.service_day_start;
  project = project || makeProjection(fc.features);
  svg.querySelectorAll("path").forEach(p => p.remove());
  const layer = document.createElementNS(NS, "g");
  const outlines = document.createElementNS(NS, "g");
  for (const f of fc.features) {
    gridProps[f.properties.id] = f.properties;
    if (!f.geometry) continue;
    const p = document.createElementNS(NS, "path");
    p.setAttribute("d", pathOf(f.geometry));
    p.dataset.grid = f.properties.id;
    if (f.properties.is_leaf) {
      p.setAttribute("class", "grid " + f.properties.status);
      const title = document.createElementNS(NS, "title");
      title.textContent = `${f.properties.name} (${f.properties.id})`;
      p.appendChild(title);
      p.onclick = () => selectGrid(f.properties.id);
      gridPaths[f.properties.id] = p;
      layer.appendChild(p);
    } else {
      p.setAttribute("class", "parent");
      outlines.appendChild(p);
    }
  }
  svg.prepend(outlines);
  svg.prepend(layer);
  summarise();
}

async function drawDevices() {
  const devices = await api("/devices");
  svg.querySelectorAll("circle.device").forEach(c => c.remove());
  const pick = document.getElementById("device-pick");
  const known = new Set([...pick.options].map(o => o.value));
  for (const d of devices) {
    if (!known.has(d.device_id)) pick.add(new Option(`${d.worker || ""} ${d.device_id}`, d.device_id));
    if (d.lat == null) continue;
    const [x, y] = project(d.lon, d.lat);
    const c = document.createElementNS(NS, "circle");
    c.setAttribute("cx", x); c.setAttribute("cy", y); c.setAttribute("r", markerR);
    c.setAttribute("class", "device" + (d.online ? "" : " offline"));
    const title = document.createElementNS(NS, "title");
    title.textContent = `${d.worker || d.device_id} · last seen ${d.last_seen}`;
    c.appendChild(title);
    svg.appendChild(c);
  }
  summarise();
}

function today() {
  const now = new Date(), start = new Date(now);
  start.setHours(0, 0, 0, 0);
  return [dayStart || start.toISOString(), new Date(now.getTime() + 1000).toISOString()];
}

async function selectGrid(id) {
  selected = id;
  Object.entries(gridPaths).forEach(([g, p]) => setStatus(g, gridProps[g].status));
  const [s, e] = today();
  const q = `?start=${encodeURIComponent(s)}&end=${encodeURIComponent(e)}&grid_id=${encodeURIComponent(id)}`;
  const panel = document.getElementById("grid-panel");
  panel.textContent = "loading…";
  const [[c], [v]] = await Promise.all([api("/compliance" + q), api("/coverage" + q)]);
  const t0 = Date.parse(s), t1 = Date.parse(e);
  const bars = c.violations.map(([a, b]) => {
    const x = 100 * (Date.parse(a) - t0) / (t1 - t0), w = 100 * (Date.parse(b) - Date.parse(a)) / (t1 - t0);
    return `<rect class="gap" x="${x}%" y="4" width="${Math.max(w, 0.3)}%" height="26"><title>${a} – ${b}</title></rect>`;
  }).join("");
  const p = gridProps[id];
  panel.innerHTML = `<b>${esc(p.name)}</b> (${esc(id)}) · every ${esc(p.interval_min)} min<table>
    <tr><td>status</td><td>${esc(p.status)}</td></tr>
    <tr><td>compliance today</td><td>${c.compliance == null ? "–" : (100 * c.compliance).toFixed(1) + " %"}</td></tr>
    <tr><td>visits</td><td>${c.visits}</td></tr>
    <tr><td>longest gap</td><td>${(c.max_gap_s / 60).toFixed(0)} min</td></tr>
    <tr><td>coverage today</td><td>${v.coverage == null ? "–" : (100 * v.coverage).toFixed(1) + " %"} of ${v.cells} cells</td></tr>
    </table><p>violations today (red)</p><svg class="timeline">${bars}</svg>`;
}

// Text from grid files and devices goes into markup escaped: a grid file is not trusted.
function esc(value) {
  return String(value).replace(/[&<>"']/g, ch => `&#${ch.charCodeAt(0)};`);
}

async function replay(deviceId) {
  svg.querySelectorAll("polyline.track, circle.replay").forEach(n => n.remove());
  const slider = document.getElementById("slider");
  if (!deviceId) { slider.disabled = true; return; }
  const [s, e] = today();
  const r = await fetch(`${API}/devices/${encodeURIComponent(deviceId)}/track?start=${encodeURIComponent(s)}&end=${encodeURIComponent(e)}&format=geojson`, { headers: headers() });
  const track = await r.json();
  const pts = track.geometry.coordinates.map(([x, y]) => project(x, y));
  const line = document.createElementNS(NS, "polyline");
  line.setAttribute("class", "track");
  line.setAttribute("points", pts.map(p => p.join(",")).join(" "));
  svg.appendChild(line);
  const dot = document.createElementNS(NS, "circle");
  dot.setAttribute("class", "replay"); dot.setAttribute("r", 1.6 * markerR);
  svg.appendChild(dot);
  slider.max = Math.max(0, pts.length - 1); slider.value = slider.max; slider.disabled = pts.length === 0;
  const move = () => {
    const i = +slider.value;
    if (!pts[i]) return;
    dot.setAttribute("cx", pts[i][0]); dot.setAttribute("cy", pts[i][1]);
    document.getElementById("replay-time").textContent = track.properties.times[i];
  };
  slider.oninput = move;
  move();
}
document.getElementById("device-pick").onchange = ev => replay(ev.target.value);

// alert kind -> the status a grid takes with it, from GET /alerts/kinds (the one list of kinds)
const GRID_STATUS = {};

async function loadAlertKinds() {
  for (const k of await api("/alerts/kinds")) if (k.grid_status) GRID_STATUS[k.kind] = k.grid_status;
}

function showAlert(a) {
  const li = document.createElement("li");
  li.className = a.kind;
  li.textContent = `${a.at.slice(11, 19)} ${a.kind} ${a.grid_id || a.device_id} ${a.detail}`;
  const list = document.getElementById("alerts");
  list.prepend(li);
  while (list.children.length > 200) list.lastChild.remove();
  if (a.grid_id && GRID_STATUS[a.kind]) setStatus(a.grid_id, GRID_STATUS[a.kind]);
}

async function streamAlerts() {
  // fetch, not EventSource: the token goes in a header, never in a URL
  for (;;) {
    try {
      const r = await fetch(API + "/alerts/stream", { headers: headers() });
      const reader = r.body.getReader(), decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const chunk = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
          const data = chunk.split("\n").filter(l => l.startsWith("data: ")).map(l => l.slice(6)).join("\n");
          if (data) showAlert(JSON.parse(data));
        }
      }
    } catch (err) { console.warn("alert stream:", err); }
    await new Promise(res => setTimeout(res, 2000));
  }
}

async function start() {
  try {
    await loadAlertKinds();
    await drawGrids();
    await drawDevices();
    (await api("/alerts")).reverse().forEach(showAlert);
    streamAlerts();
    setInterval(() => drawDevices().catch(console.warn), 3000);
    setInterval(() => api("/grids").then(fc => fc.features.forEach(f => setStatus(f.properties.id, f.properties.status))).catch(console.warn), 10000);
  } catch (err) { console.warn(err); }
}
start();
