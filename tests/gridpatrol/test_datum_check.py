"""``grids check FILE --db``: a day of the demo town's fixes tell which datum a grid file is
really in. Each of 70 devices keeps to its own grid (12 hours, a fix every 30 s, WGS-84 as
trackers send them); the grid file handed over is the same town drawn on an Amap map
(GCJ-02) or a Baidu one (BD-09)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pytest
import shapely

from base.datum import Datum
from geofence.generate import irregular_town
from geofence.grids import load_grids
from gridpatrol.cli import main
from tests.geofence.test_grid_crs import LAT0, LON0, converted, to_datum, write_geojson
from tests.patrol.day import ping_frame
from tracks.schema import REJECTED
from tracks.store import Store

DEVICES = 70
FIXES = 12 * 120  # 12 hours, one every 30 s
START = dt.datetime(2026, 11, 20, 8, tzinfo=dt.UTC).timestamp()


@pytest.fixture(scope="module")
def town_day(tmp_path_factory) -> tuple[Path, dict, Path]:
    folder = tmp_path_factory.mktemp("datumcheck")
    fc = irregular_town(LON0, LAT0, grids=76, seed=7, service_hours=None)
    original = write_geojson(folder / "wgs.geojson", fc)
    grid_set = load_grids(original)
    rng = np.random.default_rng(3)
    lon_parts, lat_parts, devices = [], [], []
    for d in range(DEVICES):
        geom = grid_set.leaves[d % len(grid_set.leaves)].geometry
        west, south, east, north = geom.bounds
        x = rng.uniform(west, east, 8 * FIXES)
        y = rng.uniform(south, north, 8 * FIXES)
        inside = shapely.contains_xy(geom, x, y)
        lon_parts.append(x[inside][:FIXES])
        lat_parts.append(y[inside][:FIXES])
        devices += [f"dev-{d:02d}"] * FIXES
    lon, lat = np.concatenate(lon_parts), np.concatenate(lat_parts)
    ts = START + 30.0 * np.tile(np.arange(FIXES), DEVICES)
    db = folder / "day.db"
    with Store(db) as store:
        store.write_batch(ping_frame(grid_set, devices, ts, lon, lat), REJECTED.empty(), {})
    return db, fc, original


def check(capsys, path: Path, db: Path, *flags: str) -> tuple[int, list[str]]:
    code = main(["grids", "check", str(path), "--db", str(db), *flags])
    return code, capsys.readouterr().out.splitlines()


def shares(line: str) -> dict[str, float]:
    return {k: float(v) for v, k in re.findall(r"([\d.]+)% as ([\w:-]+)", line)}


def test_a_gcj02_file_taken_for_wgs84_is_named(tmp_path, capsys, town_day):
    db, fc, _ = town_day
    gcj = write_geojson(tmp_path / "amap.geojson", converted(fc, to_datum(Datum.GCJ02)))
    code, out = check(capsys, gcj, db)
    assert code == 1
    assert out[0].startswith(f"{gcj}: no CRS named, read as WGS-84 (drawn on Amap or Tencent")
    assert out[1] == f"{gcj}: 80 grids, no problems"
    assert out[2].startswith("datum check: 100,800 usable fixes; inside some grid: ")
    found = shares(out[2])
    assert list(found) == ["WGS-84", "GCJ-02", "BD-09"]  # the file's own datum first
    assert found["GCJ-02"] == 100.0
    # 560 m off, yet the town is tiled: only fixes near its rim fall outside every grid
    assert found["WGS-84"] < 90.0
    assert out[3] == (
        f"the grids fit the fixes as GCJ-02 (100.0% inside), not as WGS-84 "
        f"({found['WGS-84']:.1f}%): import the file with --crs gcj02"
    )
    # imported as it should be, the file fits: exit 0, no verdict line
    code, out = check(capsys, gcj, db, "--crs", "gcj02")
    assert code == 0 and out[0] == f"{gcj}: read as GCJ-02, converted to WGS-84"
    assert len(out) == 3 and shares(out[2])["GCJ-02"] == 100.0


def test_a_bd09_file_is_named_and_a_right_file_passes(tmp_path, capsys, town_day):
    db, fc, original = town_day
    bd = write_geojson(tmp_path / "baidu.geojson", converted(fc, to_datum(Datum.BD09)))
    code, out = check(capsys, bd, db)
    assert code == 1 and out[3].endswith("import the file with --crs bd09")
    code, out = check(capsys, original, db)
    assert code == 0 and len(out) == 3 and shares(out[2])["WGS-84"] == 100.0
