"""The live updater's upkeep of the derived data: today up to the last closed quarter-hour,
the days batches touched, and reports equal to the recompute meanwhile."""

from __future__ import annotations

import datetime as dt

import numpy as np

from geofence.config import GeofenceSettings
from geofence.grids import check_grids
from patrol.derive import ReportGrids, derived_through, stale_days
from patrol.grids import read_grids, save_grids
from patrol.reports import run_report
from patrol.upkeep import DerivedUpkeep
from tests.geofence.test_daily import DAY0, MIDNIGHT, TZ, grid_file
from tests.geofence.town import lonlat
from tests.patrol.day import ping_frame
from tracks.derived import derived_reader
from tracks.schema import REJECTED
from tracks.store import Store

SETTINGS = GeofenceSettings(timezone="Asia/Shanghai")
NOW = MIDNIGHT + 12 * 3600 + 7 * 60  # 12:07 local on DAY0


def test_today_is_derived_to_the_last_closed_quarter_and_late_days_again(tmp_path):
    with Store(tmp_path / "t.db") as store:
        save_grids(store, check_grids(grid_file(tmp_path / "g.geojson", [None] * 3, 30.0))[0])
        grid_set = read_grids(store)
        assert grid_set is not None

        def write(seconds: list[float], x: float) -> np.ndarray:
            lon, lat = lonlat(x, 0.0)
            ts = MIDNIGHT + np.array(seconds)
            store.write_batch(
                ping_frame(
                    grid_set, ["d0"] * len(ts), ts, np.full(len(ts), lon), np.full(len(ts), lat)
                ),
                REJECTED.empty(),
                {},
            )
            return ts

        upkeep = DerivedUpkeep(grid_set, SETTINGS, store, clock=lambda: NOW)
        grids = ReportGrids(store, grid_set)
        yesterday = DAY0 - dt.timedelta(days=1)
        upkeep.touch(write([-3600.0, 11 * 3600, 12 * 3600 + 60, 12 * 3600 + 300], -100.0))
        upkeep.step()
        with derived_reader(store) as reader:
            through = derived_through(grids, reader, [yesterday, DAY0], SETTINGS)
        # 12:00 less the 120 s a segment may span: later pings still change those facts
        assert through == {yesterday: MIDNIGHT, DAY0: MIDNIGHT + 12 * 3600 - 120}
        assert upkeep.health.days_derived == 2
        start = dt.datetime.fromtimestamp(MIDNIGHT, TZ)
        now = dt.datetime.fromtimestamp(NOW, TZ)
        for kind in ("compliance", "coverage", "presence"):
            derived = run_report(kind, grids, store, start, now, SETTINGS)
            assert derived == run_report(kind, grids, store, start, now, SETTINGS, recompute=True)
        upkeep.step()  # nothing changed: nothing derived again
        assert upkeep.health.days_derived == 2
        upkeep.touch(write([-7200.0], 0.0))  # late, into yesterday
        assert stale_days(grids, store, [yesterday], SETTINGS) == [yesterday]
        upkeep.step()
        assert upkeep.health.days_derived == 3
        assert stale_days(grids, store, [yesterday], SETTINGS) == []
