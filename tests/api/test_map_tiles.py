"""The live map over a base map (serve --tiles-file, --tiles), at district scale in a real
headless Chromium: 1,652 grids under 17 districts, 2,000 devices with a ping each through the
broker, and an MBTiles file drawn here with Pillow from the grids themselves (their outlines in
blue, one grid filled magenta), so that the screenshot shows whether tiles and grids line up.
"""

from __future__ import annotations

import http.server
import io
import json
import math
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
import shapely
from PIL import Image, ImageDraw

from api.config import ApiSettings
from api.tiles import open_tiles
from api.tokens import add_token
from base.datum import wgs84_to_gcj02
from base.errors import ConfigError
from geofence.config import GeofenceSettings
from geofence.generate import irregular_town
from gridpatrol.broker import Mosquitto, free_port
from gridpatrol.compose import IngestProcess
from gridpatrol.roles import ServeOptions
from ingest.config import IngestSettings
from patrol.config import LiveSettings
from tests.api.browser import ARTIFACTS, chromium_page
from tests.mqtt_helpers import publish_all, running, wait_for

pytestmark = pytest.mark.broker

LEAVES, DISTRICTS, DEVICES = 1652, 17, 2000
ZOOMS = range(12, 17)  # the tile file's levels: the district's extent is z14-z15 on screen
MARKED = "G800"  # the grid filled magenta in the tiles
BLUE, MAGENTA = (0, 0, 255), (255, 0, 255)


def pixel(lon: float, lat: float, z: int) -> tuple[float, float]:
    """Web Mercator pixel coordinates of the world at zoom z (XYZ, 256 px tiles)."""
    n = 256 * 2**z
    y = math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))
    return (lon + 180) / 360 * n, (1 - y / math.pi) / 2 * n


def write_mbtiles(path: Path, fc: dict, marked: str = MARKED) -> list[tuple[int, int, int]]:
    """The grids drawn as PNG tiles (white, blue outlines, ``marked`` magenta); the tiles
    written."""
    leaves = [f for f in fc["features"] if "parent" in f["properties"]]
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
    db.execute("CREATE TABLE tiles (zoom_level INT, tile_column INT, tile_row INT, tile_data BLOB)")
    db.executemany(
        "INSERT INTO metadata VALUES (?, ?)",
        [("name", "district"), ("format", "png"), ("minzoom", "12"), ("maxzoom", "16")],
    )
    written = []
    for z in ZOOMS:
        shapes = []
        for f in leaves:
            ring = shapely.geometry.shape(f["geometry"]).exterior.coords
            shapes.append((f["properties"]["id"], [pixel(x, y, z) for x, y in ring]))
        xs = [p[0] for _, ring in shapes for p in ring]
        ys = [p[1] for _, ring in shapes for p in ring]
        for tx in range(int(min(xs) // 256), int(max(xs) // 256) + 1):
            for ty in range(int(min(ys) // 256), int(max(ys) // 256) + 1):
                image = Image.new("RGB", (256, 256), "white")
                draw = ImageDraw.Draw(image)
                for grid_id, ring in shapes:
                    local = [(x - tx * 256, y - ty * 256) for x, y in ring]
                    draw.polygon(
                        local, fill=MAGENTA if grid_id == marked else None, outline=BLUE, width=2
                    )
                data = io.BytesIO()
                image.save(data, "PNG")
                row = 2**z - 1 - ty  # MBTiles rows count from the south (TMS)
                db.execute("INSERT INTO tiles VALUES (?, ?, ?, ?)", [z, tx, row, data.getvalue()])
                written.append((z, tx, ty))
    db.commit()
    db.close()
    return written


@dataclass
class Tiled:
    url: str
    folder: Path
    tiles: list[tuple[int, int, int]]
    where: dict[str, tuple[float, float]]


@pytest.fixture(scope="module")
def tiled(broker: Mosquitto, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tiled]:
    folder = tmp_path_factory.mktemp("tiled")
    fc = irregular_town(
        117.16, 39.06, grids=LEAVES, areas=DISTRICTS, radius_m=2842.0, service_hours=None
    )
    leaves = [f for f in fc["features"] if "parent" in f["properties"]]
    assert MARKED in {f["properties"]["id"] for f in leaves}
    (folder / "grids.geojson").write_text(json.dumps(fc))
    tiles = write_mbtiles(folder / "district.mbtiles", fc)
    rows = ["device_id,kind,worker,grid_id"]
    where = {}
    for i in range(DEVICES):
        leaf = leaves[i % len(leaves)]
        rows.append(f"dev-{i:04d},phone,巡查员{i},{leaf['properties']['id']}")
        point = shapely.geometry.shape(leaf["geometry"]).point_on_surface()
        where[f"dev-{i:04d}"] = (point.x, point.y)
    (folder / "devices.csv").write_text("\n".join(rows) + "\n")
    port = free_port()
    ingest = IngestSettings(
        broker=broker.url, client_id=f"tiles-{uuid.uuid4().hex[:6]}", batch_age_ms=50
    )
    options = ServeOptions(
        db=folder / "gp.db",
        grids=folder / "grids.geojson",
        devices=folder / "devices.csv",
        http=f"127.0.0.1:{port}",
    )
    api = ApiSettings(tiles_file=str(folder / "district.mbtiles"))
    service = IngestProcess(options, ingest, GeofenceSettings(), api, live=LiveSettings(tick_s=0.5))
    with running(service):
        assert service.http is not None
        wait_for(service.http.started, what="the API to listen")
        now = time.time()
        publish_all(
            broker,
            [
                (
                    f"gridpatrol/v1/ping/{d}",
                    json.dumps({"ts": now, "lat": lat, "lon": lon}).encode(),
                )
                for d, (lon, lat) in where.items()
            ],
        )
        wait_for(
            lambda: (
                service.store.cursor().execute("SELECT count(*) FROM pings").fetchone()[0]
                == DEVICES
            ),
            what=f"{DEVICES} pings stored",
        )
        yield Tiled(f"http://127.0.0.1:{port}", folder, tiles, where)


def magenta_box(png: bytes) -> tuple[int, int, int, int]:
    """The box of the screenshot's magenta pixels (the MARKED grid as the tiles draw it)."""
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    mask = (rgb[..., 0] > 200) & (rgb[..., 1] < 60) & (rgb[..., 2] > 200)
    ys, xs = np.nonzero(mask)
    assert len(xs) > 30, "no magenta on the screen: the tiles are not drawn"
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def tiles_drawn(page) -> None:  # type: ignore[no-untyped-def]
    """Until every tile image in view has its picture loaded (a blob: URL of serve's tile)."""
    page.wait_for_function(
        """() => { const images = [...document.querySelectorAll('#tiles image')];
        return images.length > 0 && images.every(i => (i.getAttribute('href') || '').startsWith('blob:')); }"""
    )
    page.wait_for_timeout(300)  # the images decode and paint


def assert_aligned(page, marked: str = MARKED) -> None:  # type: ignore[no-untyped-def]
    """The MARKED grid's magenta on the tiles (the overlay hidden) is where its path is: the
    centres within 1.5 px or 3 % of the grid's width, whichever is more: the magenta is inset
    by the tiles' blue outline, drawn by Pillow in whole tile pixels, magnified when zoomed in.
    (A tile misplaced by the projection, the TMS row flip or the zoom is off by a tile; a
    datum left unshifted, by some 500 m.)"""
    layers = "['leaves', 'parents', 'devices', 'labels']"
    page.evaluate(
        f"() => {layers}.forEach(id => document.getElementById(id).style.display = 'none')"
    )
    x0, y0, x1, y1 = magenta_box(page.screenshot())
    page.evaluate(f"() => {layers}.forEach(id => document.getElementById(id).style.display = '')")
    box = page.evaluate(
        f"""() => {{ const r = document.querySelector('path[data-grid="{marked}"]')
        .getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; }}"""
    )
    near = max(1.5, 0.03 * (box[2] - box[0]))
    assert abs((x0 + x1) / 2 - (box[0] + box[2]) / 2) <= near, ((x0, y0, x1, y1), box)
    assert abs((y0 + y1) / 2 - (box[1] + box[3]) / 2) <= near, ((x0, y0, x1, y1), box)
    assert x1 - x0 > (box[2] - box[0]) * 0.5  # the same grid, not a speck


def test_district_map_over_tiles(tiled: Tiled):
    with chromium_page() as (page, errors):
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(tiled.url + "/")
        page.wait_for_function(f"() => document.querySelectorAll('path.grid').length === {LEAVES}")
        page.wait_for_function(
            f"() => document.querySelectorAll('circle.device').length === {DEVICES}"
        )
        tiles_drawn(page)
        assert "个网格" in page.inner_text("#summary")  # in Chinese, over the base map
        page.screenshot(path=str(ARTIFACTS / "map-tiles-district.png"))
        drawn = page.eval_on_selector_all("#tiles image", "els => els.map(e => e.dataset.tile)")
        z = {int(key.split("/")[0]) for key in drawn}
        assert len(z) == 1 and z <= set(ZOOMS)  # one level, one the file has

        assert_aligned(page)  # the tiles line up with the grids

        # zoom in: tiles of a deeper level; pan, search, the district fold, a replay: still up
        centre = page.evaluate(
            f"""() => {{ const r = document.querySelector('path[data-grid="{MARKED}"]')
            .getBoundingClientRect(); return [(r.left + r.right) / 2, (r.top + r.bottom) / 2]; }}"""
        )
        page.mouse.move(*centre)
        for _ in range(3):  # the wheel zooms about the pointer: the marked grid stays in view
            page.mouse.wheel(0, -500)
            page.wait_for_timeout(100)
        page.wait_for_function(
            f"() => [...document.querySelectorAll('#tiles image')].every(i => +i.dataset.tile.split('/')[0] > {max(z)})"
        )
        tiles_drawn(page)
        assert_aligned(page)
        page.mouse.move(800, 450)
        page.mouse.down()
        page.mouse.move(600, 350, steps=5)
        page.mouse.up()
        tiles_drawn(page)
        page.fill("#search", "dev-0042")
        page.wait_for_selector("#search-results li")
        page.press("#search", "Enter")
        found = page.wait_for_selector("circle.device.found")
        assert found.get_attribute("data-device") == "dev-0042"
        tiles_drawn(page)
        page.click("#zoom-all")
        page.check("#districts")
        page.wait_for_function(
            "() => getComputedStyle(document.getElementById('leaves')).display === 'none'"
        )
        page.uncheck("#districts")
        page.select_option("#device-pick", "dev-0042")
        page.wait_for_selector("#overlay polyline.track", state="attached")  # one fix: a point
        replayed = page.eval_on_selector(
            "#overlay circle.replay", "c => [c.getAttribute('cx'), c.getAttribute('cy')]"
        )
        device = page.eval_on_selector(
            "circle.device[data-device='dev-0042']",
            "c => [c.getAttribute('cx'), c.getAttribute('cy')]",
        )
        assert [float(v) for v in replayed] == [float(v) for v in device]
        tiles_drawn(page)
        page.screenshot(path=str(ARTIFACTS / "map-tiles-replay.png"))

        # the GCJ-02 shift of the page (--tiles-datum gcj02) is base/datum.py's
        points = [(117.16, 39.06), (116.41, 39.91), (114.41, 23.11), (2.35, 48.86)]
        shifted = page.evaluate(f"() => {json.dumps(points)}.map(([x, y]) => wgs84ToGcj02(x, y))")
        lon, lat = wgs84_to_gcj02(
            np.array([p[0] for p in points]), np.array([p[1] for p in points])
        )
        assert np.allclose(np.array(shifted), np.column_stack([lon, lat]), atol=1e-9, rtol=0)
        assert shifted[3] == list(points[3])  # Paris: outside China, not shifted

        assert errors == []
        tile_requests = [u for u in requests if "/tiles/" in u]
        assert tile_requests and all(
            u.startswith(tiled.url + "/api/v1/tiles/") for u in tile_requests
        )
        assert all(u.startswith(tiled.url) or u.startswith(("blob:", "data:")) for u in requests)


def gcj02_town(fc: dict) -> dict:
    """The same town with every coordinate shifted to GCJ-02 (what an Amap base map draws)."""
    shifted = json.loads(json.dumps(fc))
    for f in shifted["features"]:
        if f["geometry"] is None:
            continue
        ring = np.array(f["geometry"]["coordinates"][0])
        lon, lat = wgs84_to_gcj02(ring[:, 0], ring[:, 1])
        f["geometry"]["coordinates"] = [np.column_stack([lon, lat]).tolist()]
    return shifted


def test_the_overlay_is_shifted_onto_a_gcj02_base_map(broker: Mosquitto, tmp_path: Path):
    """Tiles drawn from the town in GCJ-02, grids stored in WGS-84, --tiles-datum gcj02: the
    marked grid's path lies on its magenta in the tiles (unshifted, it would be ~560 m off)."""
    fc = irregular_town(117.16, 39.06, grids=40, areas=2, radius_m=800.0, service_hours=None)
    marked = next(f["properties"]["id"] for f in fc["features"] if "parent" in f["properties"])
    assert all(f["geometry"]["type"] == "Polygon" for f in fc["features"] if f["geometry"])
    (tmp_path / "grids.geojson").write_text(json.dumps(fc))
    write_mbtiles(tmp_path / "amap.mbtiles", gcj02_town(fc), marked)
    port = free_port()
    options = ServeOptions(
        db=tmp_path / "gp.db", grids=tmp_path / "grids.geojson", http=f"127.0.0.1:{port}"
    )
    ingest = IngestSettings(broker=broker.url, client_id=f"gcj-{uuid.uuid4().hex[:6]}")
    api = ApiSettings(tiles_file=str(tmp_path / "amap.mbtiles"), tiles_datum="gcj02")
    service = IngestProcess(options, ingest, GeofenceSettings(), api)
    with running(service), chromium_page() as (page, errors):
        assert service.http is not None
        wait_for(service.http.started, what="the API to listen")
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_function("() => document.querySelectorAll('path.grid').length === 40")
        tiles_drawn(page)
        assert_aligned(page, marked)
        page.screenshot(path=str(ARTIFACTS / "map-tiles-gcj02.png"))
        assert errors == []


def test_the_tiles_route_answers_tiles_and_404(tiled: Tiled):
    z, x, y = tiled.tiles[0]
    base = tiled.url + "/api/v1"
    assert httpx.get(base + "/tiles").json() == {
        "source": "file",
        "datum": "wgs84",
        "min_zoom": 12,
        "max_zoom": 16,
    }
    found = httpx.get(f"{base}/tiles/{z}/{x}/{y}")
    assert found.status_code == 200 and found.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(found.content)).size == (256, 256)
    for missing in (f"{z}/{x + 50}/{y}", "3/1/1", "12/5000/1", "30/0/0"):
        answer = httpx.get(f"{base}/tiles/{missing}")
        assert answer.status_code == 404, missing
        assert answer.json()["error"]["code"] == "not_found"
    assert httpx.get(base + "/health").status_code == 200  # still up


def test_a_pmtiles_file_gives_the_same_tiles(tiled: Tiled):
    from pmtiles.tile import Compression, TileType, zxy_to_tileid
    from pmtiles.writer import Writer

    source = open_tiles("", str(tiled.folder / "district.mbtiles"))
    assert source is not None
    path = tiled.folder / "district.pmtiles"
    with path.open("wb") as f:
        writer = Writer(f)
        for z, x, y in sorted(tiled.tiles, key=lambda t: zxy_to_tileid(*t)):
            tile = source.get(z, x, y)
            assert tile is not None
            writer.write_tile(zxy_to_tileid(z, x, y), tile.data)
        writer.finalize(
            {
                "tile_type": TileType.PNG,
                "tile_compression": Compression.NONE,
                "min_zoom": 12,
                "max_zoom": 16,
                "min_lon_e7": int(117.1 * 1e7),
                "min_lat_e7": int(39.0 * 1e7),
                "max_lon_e7": int(117.2 * 1e7),
                "max_lat_e7": int(39.1 * 1e7),
                "center_zoom": 14,
                "center_lon_e7": int(117.16 * 1e7),
                "center_lat_e7": int(39.06 * 1e7),
            },
            {},
        )
    pmtiles = open_tiles("", str(path))
    assert pmtiles is not None and (pmtiles.min_zoom, pmtiles.max_zoom) == (12, 16)
    for z, x, y in tiled.tiles[::7]:
        one, other = source.get(z, x, y), pmtiles.get(z, x, y)
        assert one is not None and other == one
    z, x, y = tiled.tiles[0]
    assert pmtiles.get(z, x + 50, y) is None
    pmtiles.close()
    source.close()


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b'{"type": "FeatureCollection", "features": []}', "neither MBTiles"),
        (b"SQLite format 3\x00" + b"\x00" * 100, "not a readable MBTiles"),
        (b"PMTiles\x02" + b"\x00" * 120, "PMTiles version 2"),
    ],
)
def test_a_file_that_is_not_tiles_is_refused(tmp_path: Path, content: bytes, says: str):
    bad = tmp_path / "town.mbtiles"
    bad.write_bytes(content)
    with pytest.raises(ConfigError, match=says) as refused:
        open_tiles("", str(bad))
    assert "\n" not in str(refused.value)


def test_serve_refuses_a_bad_tiles_file_at_start_in_one_line(tmp_path: Path):
    bad = tmp_path / "streets.pmtiles"
    bad.write_text("not tiles\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gridpatrol",
            "serve",
            "--db",
            str(tmp_path / "gp.db"),
            "--http",
            f"127.0.0.1:{free_port()}",
            "--tiles-file",
            str(bad),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    # the refusal is one line (the others are serve's start-up warnings), and no traceback
    refusals = [line for line in done.stderr.splitlines() if line.startswith("gridpatrol: error")]
    assert len(refusals) == 1, done.stderr
    assert "neither MBTiles (SQLite) nor PMTiles v3" in refusals[0]
    assert "Traceback" not in done.stderr


class _TileService(http.server.BaseHTTPRequestHandler):
    """An intranet tile service that needs its key (tk=SECRET) and has one tile, 15/0/0."""

    png = b""

    def do_GET(self) -> None:
        if not self.path.endswith("?tk=SECRET"):
            self.send_response(403)
            self.end_headers()
            return
        found = self.path.startswith("/tiles/15/0/0?")
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "image/png")
        self.end_headers()
        if found:
            self.wfile.write(self.png)

    def log_message(self, *args: object) -> None:
        pass


def test_a_tile_service_is_fetched_by_serve_and_its_key_never_shown(
    broker: Mosquitto, tmp_path: Path
):
    data = io.BytesIO()
    Image.new("RGB", (256, 256), "white").save(data, "PNG")
    _TileService.png = data.getvalue()
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TileService)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    template = f"http://127.0.0.1:{upstream.server_port}/tiles/{{z}}/{{x}}/{{y}}?tk=SECRET"
    tokens = tmp_path / "tokens.jsonl"
    _, supervisor = add_token(tokens, "supervisor", ["A"], "Zhao")
    port = free_port()
    options = ServeOptions(db=tmp_path / "gp.db", http=f"127.0.0.1:{port}", tokens=tokens)
    ingest = IngestSettings(broker=broker.url, client_id=f"proxy-{uuid.uuid4().hex[:6]}")
    service = IngestProcess(options, ingest, GeofenceSettings(), ApiSettings(tiles=template))
    base = f"http://127.0.0.1:{port}/api/v1"
    auth = {"Authorization": f"Bearer {supervisor}"}
    with running(service):
        assert service.http is not None
        wait_for(service.http.started, what="the API to listen")
        assert httpx.get(base + "/tiles/15/0/0").status_code == 401  # the token rules
        config = httpx.get(base + "/tiles", headers=auth)
        assert config.json()["source"] == "proxy" and "SECRET" not in config.text
        tile = httpx.get(base + "/tiles/15/0/0", headers=auth)
        assert tile.status_code == 200 and tile.content == _TileService.png
        assert tile.headers["content-type"] == "image/png"
        missing = httpx.get(base + "/tiles/15/1/0", headers=auth)
        assert missing.status_code == 404 and "SECRET" not in missing.text
        upstream.shutdown()
        upstream.server_close()
        down = httpx.get(base + "/tiles/15/0/0", headers=auth)
        assert down.status_code == 502 and "SECRET" not in down.text
        assert httpx.get(base + "/health", headers=auth).status_code == 200
