"""The share of usable fixes outside every grid: a jump warns in /health, a return clears."""

from __future__ import annotations

import numpy as np

from base.health import shown_by
from patrol.outside import MIN_FIXES, RECENT_FIXES, OutsideWatch


def batches(n: int, outside_share: float, size: int = 500) -> list[np.ndarray]:
    out = []
    for _ in range(n):
        grid = np.zeros(size, dtype=np.int32)
        grid[: round(size * outside_share)] = -1
        out.append(grid)
    return out


def test_a_jump_over_the_stored_baseline_warns_and_a_return_clears():
    watch = OutsideWatch((20_000, 400))  # 2 % outside in the day before start
    for grid in batches(20, 0.03):
        watch.add(grid)
    live = shown_by([watch])["live_stage"]
    assert live == {"outside_recent": 0.03, "outside_baseline": 0.02, "outside_warning": ""}
    for grid in batches(RECENT_FIXES // 500, 0.13):  # the grids moved 560 m
        watch.add(grid)
    live = shown_by([watch])["live_stage"]
    assert live["outside_recent"] == 0.13
    assert live["outside_warning"] == (
        "13.0% of the last 5,000 usable fixes are outside every grid, 2.0% before: a grid "
        "file in the wrong datum or moved? (gridpatrol grids check FILE --db)"
    )
    for grid in batches(RECENT_FIXES // 500, 0.02):
        watch.add(grid)
    assert shown_by([watch])["live_stage"]["outside_warning"] == ""


def test_without_history_the_first_window_is_the_baseline():
    watch = OutsideWatch((10, 10))  # too few stored fixes to judge by
    watch.add(np.full(MIN_FIXES - 1, -1, dtype=np.int32))
    assert watch.health.baseline is None and watch.health.recent == 0.0
    watch.add(np.zeros(1, dtype=np.int32))
    assert watch.health.baseline == round((MIN_FIXES - 1) / MIN_FIXES, 4)
    assert watch.health.warning == ""


def test_the_live_updater_watches_every_batch(tmp_path):
    import polars as pl

    from geofence.assign import assign
    from geofence.config import GeofenceSettings
    from geofence.grids import load_grids
    from patrol.updater import CommittedBatch, LiveUpdater
    from tests.geofence.town import lonlat, three_in_a_row
    from tests.patrol.day import FIRST_FIX, ping_frame
    from tracks.store import EVENTS_SCHEMA, Store

    grid_set = load_grids(three_in_a_row(tmp_path / "grids.geojson"))
    xs = np.linspace(-150.0, 450.0, MIN_FIXES)  # x > 160 m: outside every grid (about 48 %)
    lon, lat = (np.array(c) for c in zip(*(lonlat(x, 0.0) for x in xs), strict=True))
    with Store(tmp_path / "gp.db") as store:
        live = LiveUpdater(grid_set, GeofenceSettings(), store)
        frame = ping_frame(grid_set, ["d1"] * len(xs), FIRST_FIX + np.arange(len(xs)), lon, lat)
        events = pl.DataFrame(schema=EVENTS_SCHEMA)
        live.apply(CommittedBatch(frame, assign(grid_set, lon, lat), events))
        shown = shown_by([live])["live_stage"]
    assert shown["outside_recent"] == round(float((xs > 160).mean()), 4)
    assert shown["outside_baseline"] == shown["outside_recent"]  # an empty store: the first
