"""One hand-built service day in a real DuckDB file, for tests with written-out answers.

Grids: three_in_a_row (P over A | B | C; A is x -160..-40, B -40..40, C 40..160, y -60..60 m),
each with a 720-minute interval and no service hours: the whole local day is service time.
Devices: d1 (Li Wei) assigned to A, d2 (Wang Fang) assigned to C, never heard from.
Fixes of d1 on 2026-11-20 (Asia/Shanghai), one a minute from 08:00:00:
  k = 0..9   inside A at x = -150 + 10 k, y = 0 (08:00 .. 08:09)
  k = 10..14 inside B at x = -20, y = 0     (08:10 .. 08:14)
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from geofence.assign import assign_ids
from geofence.grids import GridSet, check_grids
from patrol.grids import read_grids, save_grids
from tests.geofence.town import lonlat, three_in_a_row
from tracks.schema import DEVICES, PINGS, REJECTED
from tracks.store import Store

TZ = ZoneInfo("Asia/Shanghai")
DAY = dt.date(2026, 11, 20)
START = dt.datetime(2026, 11, 20, tzinfo=TZ)
END = START + dt.timedelta(days=1)
FIRST_FIX = dt.datetime(2026, 11, 20, 8, 0, tzinfo=TZ).timestamp()


def ping_frame(
    grid_set: GridSet, devices: list[str], ts: np.ndarray, lon: np.ndarray, lat: np.ndarray
) -> pl.DataFrame:
    """Rows of the pings schema, usable fixes placed in their grids as ingest places them."""
    micros = pl.Series(np.round(ts * 1e6).astype(np.int64)).cast(PINGS.schema["ts"])
    return (
        pl.DataFrame(
            {
                "device_id": devices,
                "ts": micros,
                "lat": lat,
                "lon": lon,
                "flags": [0] * len(devices),
                "grid_id": assign_ids(grid_set, lon, lat),
                "received_at": micros,
            },
            schema_overrides={"device_id": pl.String, "lat": pl.Float64, "lon": pl.Float64},
        )
        .with_columns(
            [
                pl.lit(None, PINGS.schema[c]).alias(c)
                for c in PINGS.names
                if c not in ("device_id", "ts", "lat", "lon", "flags", "grid_id", "received_at")
            ]
        )
        .select(PINGS.names)
        .cast(PINGS.schema)
    )


def build_day(folder: Path) -> tuple[Path, GridSet]:
    grids = three_in_a_row(folder / "grids.geojson", interval_min=720)
    db = folder / "day.db"
    xs = [-150.0 + 10 * k for k in range(10)] + [-20.0] * 5
    points = [lonlat(x, 0.0) for x in xs]
    lon = np.array([p[0] for p in points])
    lat = np.array([p[1] for p in points])
    ts = FIRST_FIX + 60.0 * np.arange(len(xs))
    with Store(db) as store:
        save_grids(store, check_grids(grids)[0])
        grid_set = read_grids(store)
        assert grid_set is not None
        store.write_batch(
            ping_frame(grid_set, ["d1"] * len(xs), ts, lon, lat), REJECTED.empty(), {}
        )
        store.upsert_devices(
            pl.DataFrame(
                {
                    "device_id": ["d1", "d2"],
                    "kind": ["tracker", "phone"],
                    "worker": ["Li Wei", "Wang Fang"],
                    "grid_id": ["A", "C"],
                },
                schema=DEVICES.schema,
            )
        )
    return db, grid_set
