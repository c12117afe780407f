"use strict";
// The live map: grids from /api/v1/grids (GeoJSON), devices from /api/v1/devices, then their
// changes from the live stream (/api/v1/devices/stream), alerts from the alert stream. Everything comes from this server, the base map's tiles too (basemap.js), no CDN. Strings come
// from i18n.js (t, kindLabel). Drawn once: one path per grid, one circle per device; panning
// and zooming only move the viewBox, and updates touch the attributes that changed.
const API = "/api/v1";
const NS = "http://www.w3.org/2000/svg";
const MARKER_PX = 3; // device marker radius on screen, whatever the zoom
const LABEL_PX = 13; // district names' size on screen
const ALERT_FLUSH_MS = 200; // alerts arriving together are drawn together
const svg = document.getElementById("map");
const layers = Object.fromEntries(["tiles", "leaves", "parents", "devices", "labels", "overlay"].map(id => [id, document.getElementById(id)]));
let token = sessionStorage.getItem("gridpatrol-token") || "";
let project = null;
let plane = null; // the Web Mercator plane of basemap.js (mercatorPlane)
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

// Web Mercator (basemap.js), so XYZ tiles line up; positions in the base map's datum first.
function makeProjection(features) {
  let [w, s, e, n] = [180, 90, -180, -90];
  for (const f of features) for (const ring of rings(f.geometry)) for (const point of ring) {
    const [x, y] = toBase(point[0], point[1]);
    w = Math.min(w, x); e = Math.max(e, x); s = Math.min(s, y); n = Math.max(n, y);
  }
  plane = mercatorPlane(w, s, e, n);
  const pad = 0.03 * Math.max(plane.width, plane.height);
  home = [-pad, -pad, plane.width + 2 * pad, plane.height + 2 * pad];
  setView(home);
  return (lon, lat) => plane.project(...toBase(lon, lat));
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
let viewTimer = 0; // drawn by the next frame, or by this timer where frames are not coming
const VIEW_FALLBACK_MS = 100;
function setView(v) {
  view = v;
  if (!viewFrame) viewFrame = requestAnimationFrame(drawView);
  if (!viewTimer) viewTimer = setTimeout(drawView, VIEW_FALLBACK_MS);
}

function drawView() {
  cancelAnimationFrame(viewFrame);
  clearTimeout(viewTimer);
  viewFrame = 0;
  viewTimer = 0;
  svg.setAttribute("viewBox", view.join(" "));
  const px = Math.max(view[2] / svg.clientWidth, view[3] / svg.clientHeight) || 1;
  svg.style.setProperty("--marker-r", (MARKER_PX * px).toFixed(3) + "px");
  svg.style.setProperty("--label-size", (LABEL_PX * px).toFixed(3) + "px");
  if (plane) {
    const rect = svg.getBoundingClientRect();
    drawTiles(plane, layers.tiles, [screenToMap(rect.left, rect.top), screenToMap(rect.right, rect.bottom)]);
  }
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
  ]) + `<p>${esc(t("violations"))}</p><svg class="timeline">${bars}</svg>` +
    `<button id="rollcall">${esc(t("rollCall"))}</button><ul id="rollcall-result"></ul>`;
  document.getElementById("rollcall").onclick = () => rollCall(id);
}

// Roll call (点名): every device of the grid asked where it is; who answered and where
async function rollCall(id) {
  const button = document.getElementById("rollcall"), list = document.getElementById("rollcall-result");
  button.disabled = true;
  list.replaceChildren(span("waiting", t("rollCallWaiting")));
  try {
    const r = await fetch(`${API}/grids/${encodeURIComponent(id)}/rollcall`, { method: "POST", headers: headers() });
    const body = await r.json();
    if (!r.ok) throw new Error(body.error.message);
    const items = body.devices.map(d => {
      const li = document.createElement("li");
      li.className = "rollcall " + d.status;
      li.dataset.device = d.device_id;
      const where = d.lat === null ? "" : ` ${d.lat.toFixed(5)}, ${d.lon.toFixed(5)} ${clock(d.ts)}`;
      li.append(span("who", d.worker || d.device_id), " ", span("status", t("rollCall." + d.status)), where);
      return li;
    });
    list.replaceChildren(span("count", t("rollCallAnswered", { n: body.answered, of: body.devices.length })), ...items);
  } catch (err) {
    list.replaceChildren(span("error", String(err.message || err)));
  } finally {
    button.disabled = false;
  }
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

// ---- alerts: grouped by kind, then by area (the top of the alert's grid's tree), each with
// its count and how many are not acknowledged yet; filters by kind and area; an alert is
// acknowledged with a note, and every screen shows it (the alert stream's ack events) ----

// alert kind -> the status a grid takes with it, from GET /alerts/kinds (the one list of kinds)
const GRID_STATUS = {};
const MAX_KEPT = 5000; // alerts kept on the page, newest first (the oldest leave)
const ITEMS_SHOWN = 100; // alerts listed in an open area; the rest are counted
const alerts = new Map(); // alert_id -> the alert as GET /alerts shows it (ack: null or {at, by, note})
const expanded = new Set(); // open groups: "kind" and "kind|area"
const alertFilter = { kind: "", area: "" };
let ackDraft = null; // the acknowledgement being written: { id, note }
let alertsFrame = 0;

async function loadAlertKinds() {
  for (const k of await api("/alerts/kinds")) if (k.grid_status) GRID_STATUS[k.kind] = k.grid_status;
}

function subjectOf(a) {
  if (a.grid_id) {
    const name = grids[a.grid_id]?.props.name;
    return name && name !== a.grid_id ? `${a.grid_id} ${name}` : a.grid_id;
  }
  const worker = devices.get(a.device_id)?.data.worker;
  return worker ? `${worker} ${a.device_id}` : a.device_id;
}

// The area of an alert: the top of its grid's tree (its device's assigned grid's); "" none.
function areaOf(a) {
  let id = a.grid_id || devices.get(a.device_id)?.data.assigned_grid;
  if (!id || !grids[id]) return id || "";
  while (grids[id].props.parent && grids[grids[id].props.parent]) id = grids[id].props.parent;
  return id;
}

function areaName(id) {
  if (!id) return t("noArea");
  const name = grids[id]?.props.name;
  return name && name !== id ? name : id;
}

function pickGrid(id) {
  matches = [{ kind: grids[id].leaves ? "district" : "grid", id }];
  pickMatch(0);
}

function span(cls, text) {
  const s = document.createElement("span");
  s.className = cls;
  s.textContent = text;
  return s;
}

function ackLine(ack) {
  return `✓ ${ack.by} ${clock(ack.at)}` + (ack.note ? ` · ${ack.note}` : "");
}

function alertItem(a) {
  const li = document.createElement("li");
  li.className = "alert " + a.kind + (a.ack ? " acked" : "");
  li.dataset.alert = a.alert_id;
  li.append(span("time", clock(a.at)), " ", span("kind", kindLabel(a.kind)), " ", span("subject", subjectOf(a)), " ",
    span("detail", detailLabel(a.detail || "")));
  li.title = a.at;
  if (a.ack) li.appendChild(span("ack-by", ackLine(a.ack)));
  else if (ackDraft && ackDraft.id === a.alert_id) li.appendChild(ackForm(a));
  else {
    const button = document.createElement("button");
    button.className = "ack";
    button.textContent = t("ack");
    button.onclick = ev => { ev.stopPropagation(); ackDraft = { id: a.alert_id, note: "" }; renderAlerts(); document.querySelector("#alerts .ack-form .note")?.focus(); };
    li.appendChild(button);
  }
  li.onclick = ev => {
    if (ev.target.closest("form")) return;
    if (a.grid_id && grids[a.grid_id]) pickGrid(a.grid_id);
    else if (devices.has(a.device_id)) findDevice(a.device_id);
  };
  return li;
}

function ackForm(a) {
  const form = document.createElement("form");
  form.className = "ack-form";
  const note = document.createElement("input");
  note.className = "note";
  note.maxLength = 500;
  note.placeholder = t("ackNote");
  note.value = ackDraft.note;
  note.oninput = () => { ackDraft.note = note.value; };
  const send = document.createElement("button");
  send.type = "submit";
  send.textContent = t("ackSend");
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.textContent = "×";
  cancel.onclick = () => { ackDraft = null; renderAlerts(); };
  form.append(note, send, cancel);
  form.onsubmit = async ev => {
    ev.preventDefault();
    send.disabled = true;
    try {
      const r = await fetch(`${API}/alerts/${encodeURIComponent(a.alert_id)}/ack`, {
        method: "POST", headers: { ...headers(), "Content-Type": "application/json" }, body: JSON.stringify({ note: note.value }),
      });
      const body = await r.json();
      if (!r.ok) throw new Error(body.error.message);
      ackDraft = null;
      applyAck(body);
    } catch (err) { send.disabled = false; note.title = err.message; note.classList.add("failed"); }
  };
  return form;
}

// ids of alerts acknowledged that this page has not listed (yet): applied when they come
const acksWaiting = new Map();

function applyAck(ev) {
  const a = alerts.get(ev.alert_id);
  if (!a) { acksWaiting.set(ev.alert_id, ev.ack); return; }
  if (a.ack) return; // the first acknowledgement counts
  a.ack = ev.ack;
  scheduleAlerts();
}

function queueAlert(a) {
  const known = alerts.get(a.alert_id);
  if (known) { // the history and the stream overlap around each (re)connection
    if (a.ack && !known.ack) { known.ack = a.ack; scheduleAlerts(); }
    return;
  }
  a.ack = a.ack || acksWaiting.get(a.alert_id) || null;
  acksWaiting.delete(a.alert_id);
  alerts.set(a.alert_id, a);
  if (alerts.size > MAX_KEPT) alerts.delete(alerts.keys().next().value);
  if (a.grid_id && GRID_STATUS[a.kind]) pendingStatuses.push([a.grid_id, GRID_STATUS[a.kind]]);
  // an SOS marks its device's marker until its end (map.css circle.device[data-sos])
  if (a.kind.startsWith("alarm_sos")) devices.get(a.device_id)?.circle?.toggleAttribute("data-sos", a.kind === "alarm_sos");
  // a due_soon names its nearest worker on shift: marked until the prompt ends
  if (a.kind.startsWith("due_soon")) devices.get(a.device_id)?.circle?.toggleAttribute("data-suggested", a.kind === "due_soon");
  scheduleAlerts();
}

let pendingStatuses = [];

// alerts arriving together are drawn together
function scheduleAlerts() {
  if (!alertsFrame) alertsFrame = setTimeout(() => { alertsFrame = 0; flushAlerts(); }, ALERT_FLUSH_MS);
}

function flushAlerts() {
  const changes = pendingStatuses;
  pendingStatuses = [];
  renderAlerts();
  if (changes.length) setStatuses(changes);
}

function counted(list) {
  const open = list.filter(a => !a.ack).length;
  const c = span("count", String(list.length));
  return open === list.length ? [c] : [c, " ", span("open", t("open", { n: open }))];
}

function groupHead(key, label, list, cls) {
  const li = document.createElement("li");
  li.className = cls;
  li.dataset.group = key;
  const head = document.createElement("div");
  head.className = "head";
  head.append(span("toggle", expanded.has(key) ? "▾" : "▸"), " ", label, " ", ...counted(list));
  head.onclick = () => { expanded.has(key) ? expanded.delete(key) : expanded.add(key); renderAlerts(); };
  li.appendChild(head);
  return li;
}

// kinds whose alerts are listed one by one above the groups
const NEVER_FOLDED = new Set(["alarm_sos"]);

function newestFirst(x, y) { return x.raised_at < y.raised_at ? 1 : x.raised_at > y.raised_at ? -1 : 0; }

function renderAlerts() {
  const shown = [...alerts.values()].filter(a =>
    (!alertFilter.kind || a.kind === alertFilter.kind) && (!alertFilter.area || areaOf(a) === alertFilter.area));
  const byKind = new Map();
  for (const a of shown.sort(newestFirst)) {
    if (!byKind.has(a.kind)) byKind.set(a.kind, new Map());
    const byArea = byKind.get(a.kind), area = areaOf(a);
    if (!byArea.has(area)) byArea.set(area, []);
    byArea.get(area).push(a);
  }
  const fragment = document.createDocumentFragment();
  // an SOS is never folded into a group: each one not yet acknowledged heads the list
  for (const a of shown) if (NEVER_FOLDED.has(a.kind) && !a.ack) fragment.appendChild(alertItem(a));
  for (const [kind, byArea] of byKind) { // the kind with the newest alert first
    const all = [...byArea.values()].flat();
    const group = groupHead(kind, span("kind", kindLabel(kind)), all, "group " + kind);
    if (expanded.has(kind)) {
      const areas = document.createElement("ul");
      for (const [area, list] of byArea) {
        const key = kind + "|" + area;
        const li = groupHead(key, span("area", areaName(area)), list, "area");
        li.dataset.area = area;
        if (expanded.has(key)) {
          const items = document.createElement("ul");
          list.slice(0, ITEMS_SHOWN).forEach(a => items.appendChild(alertItem(a)));
          if (list.length > ITEMS_SHOWN) items.appendChild(span("more", t("more", { n: list.length - ITEMS_SHOWN })));
          li.appendChild(items);
        }
        areas.appendChild(li);
      }
      group.appendChild(areas);
    }
    fragment.appendChild(group);
  }
  const focused = document.activeElement?.classList.contains("note");
  document.getElementById("alerts").replaceChildren(fragment);
  if (focused) document.querySelector("#alerts .ack-form .note")?.focus();
  renderFilters();
}

// the filters offer the kinds and areas of the alerts kept (and what is chosen)
function renderFilters() {
  const all = [...alerts.values()];
  const fill = (select, values, label, allKey) => {
    const chosen = select.value;
    const options = [new Option(t(allKey), "")];
    for (const v of [...new Set(values)].sort()) options.push(new Option(label(v), v));
    select.replaceChildren(...options);
    select.value = chosen;
  };
  fill(document.getElementById("alert-kind"), [...all.map(a => a.kind), alertFilter.kind].filter(Boolean), kindLabel, "allKinds");
  fill(document.getElementById("alert-area"), [...all.map(areaOf), alertFilter.area].filter(Boolean), areaName, "allAreas");
}

document.getElementById("alert-kind").onchange = ev => { alertFilter.kind = ev.target.value; renderAlerts(); };
document.getElementById("alert-area").onchange = ev => { alertFilter.area = ev.target.value; renderAlerts(); };

let positionsStreamed = false; // while the live stream reads, polls are a safety net
let devicePolls = 0;

// The live stream: positions and grid statuses as they change.
async function streamPositions() {
  for (;;) {
    try {
      const r = await fetch(API + "/devices/stream", { headers: headers() });
      if (!r.ok) throw new Error("status " + r.status);
      // subscribed now: what changed before is in the lists
      await Promise.all([drawDevices(), refreshGrids()]);
      positionsStreamed = true;
      await readEvents(r, (data, event) => (event === "grids" ? applyGridStates(data) : applyDevices(data)));
    } catch (err) { console.warn("live stream:", err); }
    positionsStreamed = false;
    await new Promise(res => setTimeout(res, 2000));
  }
}

// Grids whose state changed (the stream's grids events): { id, status, last_visit, overdue_since }
function applyGridStates(list) {
  for (const g of list) {
    if (!grids[g.id]) continue;
    grids[g.id].props.last_visit = g.last_visit;
    grids[g.id].props.overdue_since = g.overdue_since;
  }
  setStatuses(list.map(g => [g.id, g.status]));
}

// Each event of a Server-Sent Events response, its data parsed, to onData(data, event name);
// returns at the response's end.
async function readEvents(response, onData) {
  const reader = response.body.getReader(), decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const chunk = buffer.slice(0, cut).split("\n"); buffer = buffer.slice(cut + 2);
      const data = chunk.filter(l => l.startsWith("data: ")).map(l => l.slice(6)).join("\n");
      const event = chunk.find(l => l.startsWith("event: "))?.slice(7) || "message";
      if (data) onData(JSON.parse(data), event);
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
      await readEvents(r, (data, event) => (event === "ack" ? applyAck(data) : queueAlert(data)));
    } catch (err) { console.warn("alert stream:", err); }
    await new Promise(res => setTimeout(res, 2000));
  }
}

// ---- language ----

document.getElementById("lang").onclick = () => {
  setLanguage(lang === "zh" ? "en" : "zh");
  summarise();
  renderPanel();
  renderAlerts();
  devices.forEach(({ data, circle }) => { if (circle) circle.firstChild.textContent = deviceTitle(data); });
  if (!searchResults.hidden) showMatches();
};

async function start() {
  try {
    await loadAlertKinds();
    if (!project) await loadBaseMap(); // before the projection: its datum shifts the overlay
    await drawGrids();
    await drawDevices();
    (await api("/alerts")).reverse().forEach(queueAlert); // again once the stream is open
    if (started) return;
    started = true;
    streamAlerts();
    streamPositions();
    // while the live stream reads: everything again every few minutes (a 304 mostly);
    // while it is down: devices every 3 s, grids every 10 s
    setInterval(() => {
      if (!positionsStreamed || ++devicePolls % 100 === 0) drawDevices().catch(console.warn);
    }, 3000);
    let gridPolls = 0;
    setInterval(() => {
      if (!positionsStreamed || ++gridPolls % 30 === 0) refreshGrids().catch(console.warn);
    }, 10000);
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
