"""Seeded synthetic data: towns of irregular grids and days of patrol tracks in DuckDB."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from geofence.assign import assign_ids
from geofence.generate import irregular_town
from geofence.grids import GridSet, load_grids
from gridpatrol.simulate import patrol_loop
from patrol.registry import save_grids
from tracks.store import Store


@dataclass(frozen=True)
class Town:
    name: str
    grids: int
    devices: int
    radius_m: float
    hours: float = 12.0
    period_s: float = 5.0


#: The seeds' town (Zhangjiawo: 76 grids, 70 devices) and a Dongcheng-sized district
#: (1,652 unit grids over 25.38 km², here 2,000 devices).
TOWN = Town("town", grids=76, devices=70, radius_m=2500.0)
CITY = Town("city", grids=1652, devices=2000, radius_m=2842.0)


def town_grid_file(town: Town, folder: Path) -> Path:
    path = folder / f"{town.name}-{town.grids}.geojson"
    if not path.exists():
        fc = irregular_town(117.16, 39.06, grids=town.grids, radius_m=town.radius_m, seed=7,
                            service_hours=None)  # fmt: skip
        path.write_text(json.dumps(fc))
    return path


def patrol_day(grid_set: GridSet, town: Town, start: float, seed: int = 1) -> pl.DataFrame:
    """Every device rides a loop of its own grid (about 30 min a loop), a fix every period."""
    rng = np.random.default_rng(seed)
    steps = int(town.hours * 3600 / town.period_s)
    t = start + np.arange(steps) * town.period_s
    frames = []
    leaves = grid_set.leaves
    for d in range(town.devices):
        grid = leaves[d % len(leaves)].geometry
        assert grid is not None
        loop = patrol_loop(grid, None, rng, waypoints=6)
        seg = np.hypot(np.diff(loop[:, 0]) * 86_000, np.diff(loop[:, 1]) * 111_000)
        cum = np.concatenate([[0.0], np.cumsum(seg)])
        dist = (rng.uniform(0, cum[-1]) + (t - start) * cum[-1] / 1800.0) % cum[-1]
        lon = np.interp(dist, cum, loop[:, 0]) + rng.normal(0, 3e-5, steps)
        lat = np.interp(dist, cum, loop[:, 1]) + rng.normal(0, 3e-5, steps)
        frames.append(pl.DataFrame({"device_id": f"dev-{d:04d}", "t": t, "lon": lon, "lat": lat}))
    return pl.concat(frames)


def build_day_db(town: Town, folder: Path, start: float) -> tuple[Path, Path, int]:
    """A DuckDB file holding one patrol day of the town; reused when present."""
    grids = town_grid_file(town, folder)
    db = folder / f"{town.name}-day.db"
    marker = folder / f"{town.name}-day.rows"
    if db.exists() and marker.exists():
        return db, grids, int(marker.read_text())
    db.unlink(missing_ok=True)
    grid_set = load_grids(grids)
    day = patrol_day(grid_set, town, start)
    with Store(db) as store:
        from geofence.grids import check_grids

        save_grids(store, check_grids(grids)[0])
        devices = pl.DataFrame({
            "device_id": [f"dev-{d:04d}" for d in range(town.devices)],
            "kind": ["tracker"] * town.devices,
            "worker": [f"Worker {d}" for d in range(town.devices)],
            "grid_id": [grid_set.ids[d % len(grid_set.ids)] for d in range(town.devices)],
        })  # fmt: skip
        chunk = 2_000_000
        for lo in range(0, day.height, chunk):
            part = day.slice(lo, chunk)
            grid_id = assign_ids(grid_set, part["lon"].to_numpy(), part["lat"].to_numpy())
            rows = part.with_columns(
                ts=(pl.col("t") * 1e6).cast(pl.Int64).cast(pl.Datetime("us", "UTC")),
                grid_id=grid_id,
            )
            with store.transaction() as con:
                con.register("day", rows)
                con.execute(
                    "INSERT INTO pings (device_id, ts, lat, lon, flags, grid_id, received_at) "
                    "SELECT device_id, ts, lat, lon, 0, grid_id, ts FROM day"
                )
                con.unregister("day")
        with store.transaction() as con:
            con.register("devs", devices)
            con.execute("INSERT INTO devices SELECT * FROM devs")
            con.unregister("devs")
    marker.write_text(str(day.height))
    return db, grids, day.height
