"use strict";
// The live map: grids from /api/v1/grids (GeoJSON), devices from /api/v1/devices, alerts
// from the SSE stream. Everything comes from this server: no tiles, no CDN. Strings come
// from i18n.js (t, kindLabel). Drawn once: one path per grid, one circle per device; panning
// and zooming only move the viewBox, and updates touch the attributes that changed.
const API = "/api/v1";
const NS = "http://www.w3.org/2000/svg";
const M_PER_DEG = 111320; // the plane is in metres, so path data and markers stay legible
const MARKER_PX = 3; // device marker radius on screen, whatever the zoom
const LABEL_PX = 13; // district names' size on screen
const ALERT_FLUSH_MS = 200; // alerts arriving together are drawn together
const MAX_ALERTS = 200;
const svg = document.getElementById("map");
const layers = Object.fromEntries(["leaves", "parents", "devices", "labels", "overlay"].map(id => [id, document.getElementById(id)]));
let token = sessionStorage.getItem("gridpatrol-token") || "";
let project = null;
let home = null; // the whole map: [x, y, w, h] in metres
let view = null;
let dayStart = null; // today's 00:00 in the deployment's time zone, from /grids
let eventNow = null; // now on serve's event clock (--live-clock event), from /grids; else null
const etags = {}; // path -> the ETag of the body last drawn (polls answer 304 while current)
const grids = {}; // id -> { props, path, box, ancestors (leaves only), leaves (parents only) }
const devices = new Map(); // device_id -> { data, circle }
let selected = null;
let found = null; // the device found by search
let panel = null; // what the side panel shows, to redraw it in the other language
let started = false;

function headers() { return token ? { Authorization: "Bearer " + token } : {}; }

async function api(path) {
  const r = await fetch(API + path, { headers: headers() });
  if (r.status === 401) { document.getElementById("login").hidden = false; throw new Error("token needed"); }
  if (!r.ok) throw new Error((await r.json()).error.message);
  return r.json();
}

// A poll: null when the body last drawn is still current (304 Not Modified on its ETag).
async function poll(path) {
  const h = headers();
  if (etags[path]) h["If-None-Match"] = etags[path];
  const r = await fetch(API + path, { headers: h });
  if (r.status === 304) return null;
  if (r.status === 401) { document.getElementById("login").hidden = false; throw new Error("token needed"); }
  if (!r.ok) throw new Error((await r.json()).error.message);
  const body = await r.json();
  etags[path] = r.headers.get("ETag");
  return body;
}

// "today" and "now" on serve's live clock: the event clock's where serve runs on it
function setClock(fc) {
  dayStart = fc.service_day_start;
  eventNow = fc.live_clock === "event" && fc.event_time ? fc.event_time : null;
}

// Text from grid files and devices goes into markup escaped: a grid file is not trusted.
function esc(value) {
  return String(value).replace(/[&<>"']/g, ch => `&#${ch.charCodeAt(0)};`);
}

function clock(iso) { return iso ? iso.slice(11, 19) : t("never"); }
function percent(x) { return x == null ? "–" : (100 * x).toFixed(1) + " %"; }

// ---- geometry and view ----

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
  const k = Math.cos(((s + n) / 2) * Math.PI / 180) * M_PER_DEG;
  const width = (e - w) * k, height = (n - s) * M_PER_DEG, pad = 0.03 * Math.max(width, height);
  home = [-pad, -pad, width + 2 * pad, height + 2 * pad];
  setView(home);
  return (x, y) => [Math.round((x - w) * k * 10) / 10, Math.round((n - y) * M_PER_DEG * 10) / 10];
}

function pathOf(geometry, box) {
  return rings(geometry).map(r => "M" + r.map(([lon, lat]) => {
    const [x, y] = project(lon, lat);
    box[0] = Math.min(box[0], x); box[1] = Math.min(box[1], y);
    box[2] = Math.max(box[2], x); box[3] = Math.max(box[3], y);
    return x + "," + y;
  }).join("L") + "Z").join("");
}

let viewFrame = 0;
function setView(v) {
  view = v;
  if (!viewFrame) viewFrame = requestAnimationFrame(drawView);
}

function drawView() {
  viewFrame = 0;
  svg.setAttribute("viewBox", view.join(" "));
  const px = Math.max(view[2] / svg.clientWidth, view[3] / svg.clientHeight) || 1;
  svg.style.setProperty("--marker-r", (MARKER_PX * px).toFixed(3) + "px");
  svg.style.setProperty("--label-size", (LABEL_PX * px).toFixed(3) + "px");
}

// svg's scale and offset for the current view (preserveAspectRatio xMidYMid meet)
function screenToMap(clientX, clientY) {
  const rect = svg.getBoundingClientRect();
  const s = Math.min(rect.width / view[2], rect.height / view[3]);
  const ox = (rect.width - view[2] * s) / 2, oy = (rect.height - view[3] * s) / 2;
  return [view[0] + (clientX - rect.left - ox) / s, view[1] + (clientY - rect.top - oy) / s, s];
}

function zoom(factor, cx, cy) {
  const w = Math.min(home[2] * 2, Math.max(home[2] / 400, view[2] * factor));
  const f = w / view[2];
  setView([cx - (cx - view[0]) * f, cy - (cy - view[1]) * f, view[2] * f, view[3] * f]);
}

function zoomCentre(factor) { zoom(factor, view[0] + view[2] / 2, view[1] + view[3] / 2); }

// Centre on a box, showing it at about a sixth of the map's width (more if it is larger).
function focusBox([x0, y0, x1, y1]) {
  const w = Math.min(home[2], Math.max(x1 - x0, y1 - y0, home[2] / 20) * 3);
  const h = w * view[3] / view[2];
  setView([(x0 + x1) / 2 - w / 2, (y0 + y1) / 2 - h / 2, w, h]);
}

svg.addEventListener("wheel", ev => {
  ev.preventDefault();
  const [x, y] = screenToMap(ev.clientX, ev.clientY);
  zoom(Math.exp(ev.deltaY * 0.0015), x, y);
}, { passive: false });

// Drag to pan. The pointer is captured only once it has moved, so a click still reaches the
// grid under it; a drag ends without selecting anything.
let drag = null;
svg.addEventListener("pointerdown", ev => {
  if (ev.button === 0) drag = { x: ev.clientX, y: ev.clientY, view, moved: false, id: ev.pointerId };
});
svg.addEventListener("pointermove", ev => {
  if (!drag) return;
  if (!(ev.buttons & 1)) { drag = null; return; } // released outside the map
  const dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
  if (!drag.moved && Math.hypot(dx, dy) < 4) return;
  if (!drag.moved) { drag.moved = true; svg.setPointerCapture(drag.id); svg.classList.add("dragging"); }
  const s = screenToMap(0, 0)[2];
  setView([drag.view[0] - dx / s, drag.view[1] - dy / s, drag.view[2], drag.view[3]]);
});
svg.addEventListener("pointerup", () => { svg.classList.remove("dragging"); setTimeout(() => { drag = null; }); });
svg.addEventListener("click", ev => {
  if (drag && drag.moved) return;
  const path = ev.target.closest("path[data-grid]");
  if (path) selectGrid(path.dataset.grid);
});
document.getElementById("zoom-in").onclick = () => zoomCentre(1 / 1.5);
document.getElementById("zoom-out").onclick = () => zoomCentre(1.5);
document.getElementById("zoom-all").onclick = () => setView(home);
document.getElementById("districts").onchange = ev => svg.classList.toggle("districts", ev.target.checked);

// ---- grids ----

function gridClass(id) {
  const g = grids[id];
  return (g.leaves ? "parent " : "grid ") + g.props.status + (selected === id ? " selected" : "");
}

// Statuses of some grids; a leaf's change is carried up to its parents (overdue if any leaf
// is, else ok if any leaf was visited), as /grids computes them.
function setStatuses(changes) {
  const parents = new Set();
  for (const [id, status] of changes) {
    const g = grids[id];
    if (!g || g.props.status === status) continue;
    g.props.status = status;
    g.path.setAttribute("class", gridClass(id));
    (g.ancestors || []).forEach(p => parents.add(p));
  }
  for (const p of parents) {
    const statuses = grids[p].leaves.map(l => grids[l].props.status);
    const status = statuses.includes("overdue") ? "overdue" : statuses.includes("ok") ? "ok" : "no_data";
    if (grids[p].props.status !== status) {
      grids[p].props.status = status;
      grids[p].path.setAttribute("class", gridClass(p));
    }
  }
  summarise();
}

function summarise() {
  const leaves = Object.values(grids).filter(g => !g.leaves);
  const overdue = leaves.filter(g => g.props.status === "overdue").length;
  let online = 0;
  devices.forEach(d => { if (d.data.online) online += 1; });
  document.getElementById("summary").textContent = t("summary",
    { grids: leaves.length, overdue, devices: layers.devices.childElementCount, online });
}

async function drawGrids() {
  const fc = await api("/grids");
  setClock(fc);
  project = project || makeProjection(fc.features);
  const byParent = {};
  for (const f of fc.features) if (f.properties.parent) (byParent[f.properties.parent] ||= []).push(f.properties.id);
  const fragments = { leaves: document.createDocumentFragment(), parents: document.createDocumentFragment(), labels: document.createDocumentFragment() };
  for (const f of fc.features) {
    const id = f.properties.id;
    if (!f.geometry || grids[id]) continue;
    const box = [Infinity, Infinity, -Infinity, -Infinity];
    const path = document.createElementNS(NS, "path");
    path.setAttribute("d", pathOf(f.geometry, box));
    path.dataset.grid = id;
    const title = document.createElementNS(NS, "title");
    title.textContent = `${f.properties.name} (${id})`;
    path.appendChild(title);
    grids[id] = { props: f.properties, path, box };
    fragments[f.properties.is_leaf ? "leaves" : "parents"].appendChild(path);
  }
  const leavesUnder = id => (byParent[id] || []).flatMap(c => grids[c]?.props.is_leaf ? [c] : leavesUnder(c));
  for (const [id, g] of Object.entries(grids)) {
    if (!g.props.is_leaf) g.leaves = leavesUnder(id);
    else for (let p = g.props.parent; p && grids[p]; p = grids[p].props.parent) (g.ancestors ||= []).push(p);
    g.path.setAttribute("class", gridClass(id));
  }
  for (const [id, g] of Object.entries(grids)) {
    if (!g.leaves || layers.labels.querySelector(`[data-grid="${CSS.escape(id)}"]`)) continue;
    const label = document.createElementNS(NS, "text");
    label.setAttribute("x", (g.box[0] + g.box[2]) / 2); label.setAttribute("y", (g.box[1] + g.box[3]) / 2);
    label.dataset.grid = id;
    label.textContent = g.props.name || id;
    fragments.labels.appendChild(label);
  }
  layers.labels.appendChild(fragments.labels);
  layers.leaves.appendChild(fragments.leaves);
  layers.parents.appendChild(fragments.parents);
  summarise();
}

async function refreshGrids() {
  const fc = await poll("/grids?geometry=false"); // statuses only: the shapes do not change
  if (!fc) return; // nothing changed since the last refresh
  setClock(fc);
  for (const f of fc.features) {
    const { status, ...rest } = f.properties; // the status is set below, with the parents'
    if (grids[rest.id]) Object.assign(grids[rest.id].props, rest);
  }
  setStatuses(fc.features.map(f => [f.properties.id, f.properties.status]));
}

function select(id) {
  const before = selected;
  selected = id;
  if (before && grids[before]) grids[before].path.setAttribute("class", gridClass(before));
  if (id && grids[id]) grids[id].path.setAttribute("class", gridClass(id));
  // drawn again on top, so that no neighbour or district outline hides part of it
  document.getElementById("highlight").setAttribute("d", grids[id]?.path.getAttribute("d") || "");
}

function today() {
  const now = eventNow ? new Date(eventNow) : new Date(), start = new Date(now);
  start.setHours(0, 0, 0, 0);
  return [dayStart || start.toISOString(), new Date(now.getTime() + 1000).toISOString()];
}

function todayQuery(extra) {
  const [s, e] = today();
  return `?start=${encodeURIComponent(s)}&end=${encodeURIComponent(e)}&${extra}`;
}

async function showPanel(load) {
  const box = document.getElementById("grid-panel");
  box.removeAttribute("data-i18n");
  box.textContent = t("loading");
  try {
    panel = await load();
    renderPanel();
  } catch (err) { box.textContent = err.message; }
}

async function selectGrid(id) {
  select(id);
  const q = todayQuery(`grid_id=${encodeURIComponent(id)}`);
  await showPanel(async () => {
    const [[c], [v]] = await Promise.all([api("/compliance" + q), api("/coverage" + q)]);
    return { kind: "grid", id, c, v };
  });
}

async function showDevice(id) {
  const q = todayQuery(`device_id=${encodeURIComponent(id)}`);
  await showPanel(async () => {
    const [presence, coverage] = await Promise.all([api("/presence" + q), api("/coverage" + q)]);
    return { kind: "device", id, presence: presence[0], coverage: coverage[0] };
  });
}

function rowsHtml(rows) {
  return "<table>" + rows.map(([k, v]) => `<tr><td>${esc(t(k))}</td><td>${v}</td></tr>`).join("") + "</table>";
}

function renderPanel() {
  const box = document.getElementById("grid-panel");
  if (!panel) return;
  if (panel.kind === "device") {
    const d = devices.get(panel.id)?.data || { device_id: panel.id };
    box.innerHTML = `<b>${esc(d.worker || d.device_id)}</b>` + rowsHtml([
      ["deviceId", esc(d.device_id)],
      ["assignedGrid", esc(d.assigned_grid ?? "–")],
      ["currentGrid", esc(d.current_grid ?? "–")],
      ["status", esc(t(d.online ? "online" : "offline"))],
      ["lastSeen", esc(clock(d.last_seen))],
      ["presence", percent(panel.presence?.presence)],
      ["coverage", percent(panel.coverage?.coverage)],
    ]) + `<button id="replay-found">${esc(t("replay"))}</button>`;
    document.getElementById("replay-found").onclick = () => {
      document.getElementById("device-pick").value = panel.id;
      replay(panel.id);
    };
    return;
  }
  const { id, c, v } = panel, p = grids[id].props;
  const [s, e] = today();
  const t0 = Date.parse(s), t1 = Date.parse(e);
  const bars = c.violations.map(([a, b]) => {
    const x = 100 * (Date.parse(a) - t0) / (t1 - t0), w = 100 * (Date.parse(b) - Date.parse(a)) / (t1 - t0);
    return `<rect class="gap" x="${x}%" y="4" width="${Math.max(w, 0.3)}%" height="26"><title>${esc(a)} – ${esc(b)}</title></rect>`;
  }).join("");
  const name = p.name && p.name !== id ? `<b>${esc(p.name)}</b> (${esc(id)})` : `<b>${esc(id)}</b>`;
  box.innerHTML = `${name} · ${esc(t(p.is_leaf ? "grid" : "district"))}` + rowsHtml([
    ["status", esc(t("status." + p.status))],
    ["lastVisit", esc(clock(p.last_visit))],
    ["interval", esc(t("minutes", { n: p.interval_min }))],
    ["serviceHours", esc(p.service_hours || t("allDay"))],
    ["compliance", percent(c.compliance)],
    ["visits", c.visits],
    ["longestGap", esc(t("minutes", { n: (c.max_gap_s / 60).toFixed(0) }))],
    ["coverage", percent(v.coverage) + esc(t("ofCells", { n: v.cells }))],
  ]) + `<p>${esc(t("violations"))}</p><svg class="timeline">${bars}</svg>`;
}

// ---- devices ----

function deviceTitle(d) {
  return `${d.worker || ""} ${d.device_id} · ${t(d.online ? "online" : "offline")} · ${t("lastSeen")} ${clock(d.last_seen)}`;
}

async function drawDevices() {
  const list = await poll("/devices");
  if (list) applyDevices(list); // null: nothing changed since the last poll
}

// Devices as GET /devices shows them: every one, or those a stream event says changed.
function applyDevices(list) {
  const pick = document.getElementById("device-pick");
  const fragment = document.createDocumentFragment(), options = document.createDocumentFragment();
  for (const d of list) {
    let entry = devices.get(d.device_id);
    if (!entry) {
      entry = { data: {}, circle: null };
      devices.set(d.device_id, entry);
      options.appendChild(new Option(`${d.worker || ""} ${d.device_id}`, d.device_id));
    }
    const old = entry.data;
    entry.data = d;
    if (d.lat == null) continue;
    if (!entry.circle) {
      entry.circle = document.createElementNS(NS, "circle");
      entry.circle.dataset.device = d.device_id;
      entry.circle.appendChild(document.createElementNS(NS, "title"));
      fragment.appendChild(entry.circle);
    }
    if (old.lat !== d.lat || old.lon !== d.lon) {
      const [x, y] = project(d.lon, d.lat);
      entry.circle.setAttribute("cx", x); entry.circle.setAttribute("cy", y);
    }
    if (old.online !== d.online || entry.circle.classList.contains("found") !== (found === d.device_id)) {
      entry.circle.setAttribute("class", "device" + (d.online ? "" : " offline") + (found === d.device_id ? " found" : ""));
    }
    if (old.last_seen !== d.last_seen || old.online !== d.online) entry.circle.firstChild.textContent = deviceTitle(d);
  }
  layers.devices.appendChild(fragment);
  pick.appendChild(options);
  summarise();
}

function findDevice(id) {
  const before = found && devices.get(found);
  found = id;
  if (before?.circle) before.circle.classList.remove("found");
  const entry = devices.get(id);
  if (entry.circle) {
    entry.circle.classList.add("found");
    layers.devices.appendChild(entry.circle); // on top of the others
    const [x, y] = [+entry.circle.getAttribute("cx"), +entry.circle.getAttribute("cy")];
    focusBox([x, y, x, y]);
  }
  showDevice(id);
}

// ---- search: a grid by id or name, a device by id or its worker's name ----

const searchInput = document.getElementById("search");
const searchResults = document.getElementById("search-results");
let matches = [];

function search(text) {
  const q = text.trim().toLowerCase();
  if (!q) return [];
  const out = [];
  for (const [id, g] of Object.entries(grids)) {
    const hay = (id + " " + (g.props.name || "")).toLowerCase();
    if (hay.includes(q)) out.push({ kind: g.leaves ? "district" : "grid", id, label: `${g.props.name} (${id})`, exact: id.toLowerCase() === q || (g.props.name || "").toLowerCase() === q });
  }
  devices.forEach(({ data: d }) => {
    const hay = (d.device_id + " " + (d.worker || "")).toLowerCase();
    if (hay.includes(q)) out.push({ kind: "device", id: d.device_id, label: `${d.worker || ""} ${d.device_id}`, exact: d.device_id.toLowerCase() === q || (d.worker || "").toLowerCase() === q });
  });
  return out.sort((a, b) => b.exact - a.exact).slice(0, 12);
}

function showMatches() {
  matches = search(searchInput.value);
  searchResults.innerHTML = "";
  if (!searchInput.value.trim()) { searchResults.hidden = true; return; }
  if (!matches.length) {
    const li = document.createElement("li");
    li.className = "none";
    li.textContent = t("noMatch");
    searchResults.appendChild(li);
  }
  matches.forEach((m, i) => {
    const li = document.createElement("li");
    li.innerHTML = `<small>${esc(t(m.kind))}</small> ${esc(m.label)}`;
    li.onmousedown = ev => { ev.preventDefault(); pickMatch(i); };
    searchResults.appendChild(li);
  });
  searchResults.hidden = false;
}

function pickMatch(i) {
  const m = matches[i];
  if (!m) return;
  searchResults.hidden = true;
  if (m.kind === "device") { findDevice(m.id); return; }
  const districts = document.getElementById("districts");
  if (districts.checked === (m.kind === "grid")) { districts.checked = m.kind !== "grid"; districts.onchange({ target: districts }); }
  focusBox(grids[m.id].box);
  selectGrid(m.id);
}

searchInput.addEventListener("input", showMatches);
searchInput.addEventListener("keydown", ev => {
  if (ev.key === "Enter") pickMatch(0);
  if (ev.key === "Escape") searchResults.hidden = true;
});
searchInput.addEventListener("blur", () => { searchResults.hidden = true; });

// ---- replay ----

async function replay(deviceId) {
  layers.overlay.replaceChildren();
  const slider = document.getElementById("slider");
  if (!deviceId) { slider.disabled = true; return; }
  const [s, e] = today();
  const r = await fetch(`${API}/devices/${encodeURIComponent(deviceId)}/track?start=${encodeURIComponent(s)}&end=${encodeURIComponent(e)}&format=geojson`, { headers: headers() });
  const track = await r.json();
  const pts = track.geometry.coordinates.map(([x, y]) => project(x, y));
  const line = document.createElementNS(NS, "polyline");
  line.setAttribute("class", "track");
  line.setAttribute("points", pts.map(p => p.join(",")).join(" "));
  const dot = document.createElementNS(NS, "circle");
  dot.setAttribute("class", "replay");
  layers.overlay.append(line, dot);
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

// ---- alerts: a plain list of time, kind, subject, detail; newest first ----

// alert kind -> the status a grid takes with it, from GET /alerts/kinds (the one list of kinds)
const GRID_STATUS = {};

async function loadAlertKinds() {
  for (const k of await api("/alerts/kinds")) if (k.grid_status) GRID_STATUS[k.kind] = k.grid_status;
}

let pendingAlerts = [];

function subjectOf(a) {
  if (a.grid_id) {
    const name = grids[a.grid_id]?.props.name;
    return name && name !== a.grid_id ? `${a.grid_id} ${name}` : a.grid_id;
  }
  const worker = devices.get(a.device_id)?.data.worker;
  return worker ? `${worker} ${a.device_id}` : a.device_id;
}

function alertItem(a) {
  const li = document.createElement("li");
  li.className = a.kind;
  li.dataset.detail = a.detail || "";
  const parts = [["time", clock(a.at)], ["kind", kindLabel(a.kind)], ["subject", subjectOf(a)], ["detail", detailLabel(a.detail || "")]];
  parts.forEach(([cls, text], i) => {
    if (i) li.append(" ");
    const span = document.createElement("span");
    span.className = cls;
    span.textContent = text;
    li.appendChild(span);
  });
  li.title = a.at;
  li.onclick = () => (a.grid_id && grids[a.grid_id] ? pickGrid(a.grid_id) : devices.has(a.device_id) && findDevice(a.device_id));
  return li;
}

function pickGrid(id) {
  matches = [{ kind: grids[id].leaves ? "district" : "grid", id }];
  pickMatch(0);
}

// alert ids already listed: the history and the stream overlap around each (re)connection
const seenAlerts = new Set();

function queueAlert(a) {
  if (seenAlerts.has(a.alert_id)) return;
  seenAlerts.add(a.alert_id);
  if (seenAlerts.size > 10 * MAX_ALERTS) seenAlerts.delete(seenAlerts.values().next().value);
  pendingAlerts.push(a);
  if (pendingAlerts.length === 1) setTimeout(flushAlerts, ALERT_FLUSH_MS);
}

function flushAlerts() {
  const batch = pendingAlerts;
  pendingAlerts = [];
  const list = document.getElementById("alerts");
  const fragment = document.createDocumentFragment();
  const changes = [];
  for (const a of batch.slice(-MAX_ALERTS).reverse()) fragment.appendChild(alertItem(a));
  for (const a of batch) if (a.grid_id && GRID_STATUS[a.kind]) changes.push([a.grid_id, GRID_STATUS[a.kind]]);
  // an SOS marks its device's marker until its end (map.css circle.device[data-sos])
  for (const a of batch) if (a.kind.startsWith("alarm_sos")) devices.get(a.device_id)?.circle?.toggleAttribute("data-sos", a.kind === "alarm_sos");
  list.prepend(fragment);
  while (list.children.length > MAX_ALERTS) list.lastChild.remove();
  setStatuses(changes);
}

let positionsStreamed = false; // while the position stream reads, polls are a safety net
let devicePolls = 0;

async function streamPositions() {
  for (;;) {
    try {
      const r = await fetch(API + "/devices/stream", { headers: headers() });
      if (!r.ok) throw new Error("status " + r.status);
      await drawDevices(); // subscribed now: what changed before is in the list
      positionsStreamed = true;
      await readEvents(r, applyDevices);
    } catch (err) { console.warn("position stream:", err); }
    positionsStreamed = false;
    await new Promise(res => setTimeout(res, 2000));
  }
}

// Each event's data of a Server-Sent Events response, parsed, to onData; returns at its end.
async function readEvents(response, onData) {
  const reader = response.body.getReader(), decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const chunk = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
      const data = chunk.split("\n").filter(l => l.startsWith("data: ")).map(l => l.slice(6)).join("\n");
      if (data) onData(JSON.parse(data));
    }
  }
}

async function streamAlerts() {
  // fetch, not EventSource: the token goes in a header, never in a URL
  for (;;) {
    try {
      const r = await fetch(API + "/alerts/stream", { headers: headers() });
      // subscribed now: what was raised before is in the history, what comes after in the
      // stream (read the history only after subscribing, or an alert in between is lost)
      (await api("/alerts")).reverse().forEach(queueAlert);
      await readEvents(r, queueAlert);
    } catch (err) { console.warn("alert stream:", err); }
    await new Promise(res => setTimeout(res, 2000));
  }
}

// ---- language ----

document.getElementById("lang").onclick = () => {
  setLanguage(lang === "zh" ? "en" : "zh");
  summarise();
  renderPanel();
  document.querySelectorAll("#alerts li").forEach(li => {
    li.querySelector(".kind").textContent = kindLabel(li.className);
    li.querySelector(".detail").textContent = detailLabel(li.dataset.detail);
  });
  devices.forEach(({ data, circle }) => { if (circle) circle.firstChild.textContent = deviceTitle(data); });
  if (!searchResults.hidden) showMatches();
};

async function start() {
  try {
    await loadAlertKinds();
    await drawGrids();
    await drawDevices();
    (await api("/alerts")).reverse().forEach(queueAlert); // again once the stream is open
    if (started) return;
    started = true;
    streamAlerts();
    streamPositions();
    // every 3 s while the position stream is down, every minute while it reads (a 304 mostly)
    setInterval(() => {
      if (!positionsStreamed || ++devicePolls % 20 === 0) drawDevices().catch(console.warn);
    }, 3000);
    setInterval(() => refreshGrids().catch(console.warn), 10000);
  } catch (err) { console.warn(err); }
}

document.getElementById("save-token").onclick = () => {
  token = document.getElementById("token").value.trim();
  sessionStorage.setItem("gridpatrol-token", token);
  document.getElementById("login").hidden = true;
  start();
};

translatePage();
start();
