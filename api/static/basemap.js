"use strict";
// The base map under the live map (serve --tiles or --tiles-file): raster XYZ tiles from
// /api/v1/tiles/{z}/{x}/{y}, drawn as SVG <image> elements beneath the grids for the zoom and
// extent in view. Tiles are fetched with the token (from serve only) and drawn from blob: URLs.
// The map's plane is Web Mercator (map.js, makeProjection), so the tiles line up with it.
// With --tiles-datum gcj02 (an Amap or Tencent base map) grids, devices and tracks are shifted
// from WGS-84 to GCJ-02 before they are projected (toBase): one datum inside, shifted at the door.
const EARTH_R = 6378137; // Web Mercator's sphere (EPSG:3857)
const TILE_PX = 256;
const TILES_KEPT = 400; // tile images kept for panning back; the oldest hidden ones are freed
let baseMap = { source: null, datum: "wgs84", min_zoom: 0, max_zoom: 0 };
const tileCache = new Map(); // "z/x/y" -> <image>, or null for a tile the base map lacks

async function loadBaseMap() {
  baseMap = await api("/tiles");
  if (baseMap.source) document.getElementById("map").classList.add("tiled");
}

function mercatorY(lat) { return EARTH_R * Math.log(Math.tan(Math.PI / 4 + lat * Math.PI / 360)); }

// ---- GCJ-02: the published formula (as base/datum.py), defined inside China only ----
const KRASOVSKY_A = 6378245.0, KRASOVSKY_EE = 0.00669342162296594323;
function inChina(lon, lat) { return lon >= 72.004 && lon <= 137.8347 && lat >= 0.8293 && lat <= 55.8271; }
function wgs84ToGcj02(lon, lat) {
  if (!inChina(lon, lat)) return [lon, lat];
  const x = lon - 105.0, y = lat - 35.0, root = Math.sqrt(Math.abs(x)), PI = Math.PI;
  const waves = (20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0 / 3.0;
  let dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * root + waves;
  dlat += (20.0 * Math.sin(y * PI) + 40.0 * Math.sin(y / 3.0 * PI)) * 2.0 / 3.0;
  dlat += (160.0 * Math.sin(y / 12.0 * PI) + 320.0 * Math.sin(y * PI / 30.0)) * 2.0 / 3.0;
  let dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * root + waves;
  dlon += (20.0 * Math.sin(x * PI) + 40.0 * Math.sin(x / 3.0 * PI)) * 2.0 / 3.0;
  dlon += (150.0 * Math.sin(x / 12.0 * PI) + 300.0 * Math.sin(x / 30.0 * PI)) * 2.0 / 3.0;
  const rad = lat / 180.0 * PI, magic = 1.0 - KRASOVSKY_EE * Math.sin(rad) ** 2, rootMagic = Math.sqrt(magic);
  dlat = dlat * 180.0 / ((KRASOVSKY_A * (1.0 - KRASOVSKY_EE)) / (magic * rootMagic) * PI);
  dlon = dlon * 180.0 / (KRASOVSKY_A / rootMagic * Math.cos(rad) * PI);
  return [lon + dlon, lat + dlat];
}

// A WGS-84 position in the base map's datum.
function toBase(lon, lat) { return baseMap.datum === "gcj02" ? wgs84ToGcj02(lon, lat) : [lon, lat]; }

// The plane of map.js: Web Mercator metres scaled by cos(mid-latitude), so that a plane unit
// is about a metre on the ground; origin at the map's west and north edges.
function mercatorPlane(w, s, e, n) {
  const c = Math.cos(((s + n) / 2) * Math.PI / 180), k = c * EARTH_R * Math.PI / 180, top = mercatorY(n);
  return {
    c, width: (e - w) * k, height: c * (top - mercatorY(s)),
    left: -c * EARTH_R * (Math.PI + w * Math.PI / 180), // the world's west edge on the plane
    top: c * (top - Math.PI * EARTH_R), // and its north edge
    project: (lon, lat) => [Math.round((lon - w) * k * 10) / 10, Math.round(c * (top - mercatorY(lat)) * 10) / 10],
  };
}

async function fetchTile(key, image) {
  try {
    const r = await fetch(`${API}/tiles/${key}`, { headers: headers() });
    if (!r.ok) { tileCache.set(key, null); image.remove(); return; } // 404: none there
    image.setAttribute("href", URL.createObjectURL(await r.blob()));
  } catch (err) { tileCache.delete(key); image.remove(); console.warn(err); }
}

// The tiles of the zoom level nearest the view's scale, for the extent in view.
function drawTiles(plane, layer, corners) {
  if (!baseMap.source) return;
  const [[x0, y0, pxPerUnit], [x1, y1]] = corners;
  const world = 2 * Math.PI * EARTH_R * plane.c; // the world's width on the plane
  const best = Math.round(Math.log2(world * pxPerUnit / TILE_PX));
  const z = Math.max(baseMap.min_zoom, Math.min(baseMap.max_zoom, best)), n = 2 ** z, size = world / n;
  const clamp = v => Math.max(0, Math.min(n - 1, v));
  const [tx0, tx1] = [clamp(Math.floor((x0 - plane.left) / size)), clamp(Math.floor((x1 - plane.left) / size))];
  const [ty0, ty1] = [clamp(Math.floor((y0 - plane.top) / size)), clamp(Math.floor((y1 - plane.top) / size))];
  if ((tx1 - tx0 + 1) * (ty1 - ty0 + 1) > 400) return; // clamped below the data's zoom: too many
  const wanted = [];
  for (let ty = ty0; ty <= ty1; ty++) for (let tx = tx0; tx <= tx1; tx++) {
    const key = `${z}/${tx}/${ty}`;
    let image = tileCache.get(key);
    if (image === null) continue; // the base map has none
    if (!image) {
      image = document.createElementNS(NS, "image");
      image.setAttribute("x", plane.left + tx * size); image.setAttribute("y", plane.top + ty * size);
      // a little wider than the tile: no seam between neighbours (image edges are smoothed)
      image.setAttribute("width", size * 1.006); image.setAttribute("height", size * 1.006);
      image.setAttribute("preserveAspectRatio", "none");
      image.dataset.tile = key;
      tileCache.set(key, image);
      fetchTile(key, image);
    }
    wanted.push(image);
  }
  layer.replaceChildren(...wanted);
  if (tileCache.size > TILES_KEPT) for (const [key, image] of tileCache) {
    if (tileCache.size <= TILES_KEPT) break;
    if (image && image.isConnected) continue;
    if (image && image.getAttribute("href")) URL.revokeObjectURL(image.getAttribute("href"));
    tileCache.delete(key);
  }
}
