"""A month's reports from derived data in a real DuckDB file: the month equals its days
added up and the recompute from the pings, and compliance reads no cells.

Grids of tests/geofence/test_daily.py (P over A | B, Q over C), every leaf served
08:00-20:00 (43,200 s a day) with a 30-minute interval; 31 days from 2026-11-20.
  d0 (assigned A): in A at x = -100, one fix a minute 09:00 .. 09:10, every day but day 5.
  d1 (assigned P): in B at x = 0, one fix a minute 14:00 .. 14:05, on the even days.
A on a day with visits: 11 visits; gaps 08:00 -> 09:00 = 3,600 s (overdue 1,800 s) and
09:10 -> 20:00 = 39,000 s (overdue 37,200 s). Day 5: one gap of 43,200 s (overdue 41,400 s).
The month: 30 x 11 = 330 visits, longest gap 43,200 s, overdue 30 x 39,000 + 41,400 =
1,211,400 s of 31 x 43,200 = 1,339,200 s: compliance 1 - 1,211,400 / 1,339,200 = 0.095430;
61 violations, each the overdue part of a gap (from 30 minutes into it): two on each day
with visits (08:30 -> 09:00, 09:40 -> 20:00), one on day 5 (08:30 -> 20:00).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

import geofence.daily
from geofence.config import GeofenceSettings
from geofence.grids import check_grids
from patrol.derive import ReportGrids, derive_range
from patrol.grids import read_grids, save_grids
from patrol.reports import run_report
from tests.geofence.test_daily import MIDNIGHT, TZ, grid_file
from tests.geofence.town import lonlat
from tests.patrol.day import ping_frame
from tracks.schema import DEVICES, REJECTED
from tracks.store import Store

SETTINGS = GeofenceSettings(timezone="Asia/Shanghai")
DAYS = 31
START = dt.datetime.fromtimestamp(MIDNIGHT, TZ)
END = START + dt.timedelta(days=DAYS)


def build_month(folder):
    """The month's fixes stored and every day derived; the store's path."""
    db = folder / "month.db"
    rows = []
    for day in range(DAYS):
        base = MIDNIGHT + day * 86400
        if day != 5:
            rows += [("d0", base + 9 * 3600 + 60 * k, -100.0) for k in range(11)]
        if day % 2 == 0:
            rows += [("d1", base + 14 * 3600 + 60 * k, 0.0) for k in range(6)]
    with Store(db) as store:
        save_grids(store, check_grids(grid_file(folder / "g.geojson", ["08:00-20:00"] * 3, 30))[0])
        store.upsert_devices(
            pl.DataFrame(
                {
                    "device_id": ["d0", "d1"],
                    "kind": ["tracker", "phone"],
                    "worker": ["a", "b"],
                    "grid_id": ["A", "P"],
                },
                schema=DEVICES.schema,
            )
        )
        grid_set = read_grids(store)
        assert grid_set is not None
        xy = [lonlat(x, 0.0) for *_, x in rows]
        frame = ping_frame(
            grid_set,
            [r[0] for r in rows],
            np.array([r[1] for r in rows]),
            np.array([p[0] for p in xy]),
            np.array([p[1] for p in xy]),
        )
        store.write_batch(frame, REJECTED.empty(), {})
        assert len(derive_range(ReportGrids(store, grid_set), store, SETTINGS)) == DAYS
    return db


def reports(store, kind, start, end, **options):
    return run_report(kind, ReportGrids(store), store, start, end, SETTINGS, **options)


def test_a_month_of_compliance_is_its_days_added_up(tmp_path):
    with Store(build_month(tmp_path), read_only=True) as store:
        month = reports(store, "compliance", START, END)
        days = [
            reports(
                store, "compliance", START + dt.timedelta(days=k), START + dt.timedelta(days=k + 1)
            )
            for k in range(DAYS)
        ]
    a = month[0]
    assert (a["grid_id"], a["visits"], a["max_gap_s"], a["overdue_s"], a["compliance"]) == (
        "A",
        330,
        43200.0,
        1211400.0,
        0.09543,
    )
    assert len(a["violations"]) == 61
    assert a["violations"][:3] == [
        ["2026-11-20T08:30:00+08:00", "2026-11-20T09:00:00+08:00"],
        ["2026-11-20T09:40:00+08:00", "2026-11-20T20:00:00+08:00"],
        ["2026-11-21T08:30:00+08:00", "2026-11-21T09:00:00+08:00"],
    ]
    # service periods end each day: the month's gaps are its days' gaps
    for i, row in enumerate(month):
        of_days = [d[i] for d in days]
        assert row["grid_id"] == of_days[0]["grid_id"]
        assert row["visits"] == sum(d["visits"] for d in of_days)
        assert row["overdue_s"] == sum(d["overdue_s"] for d in of_days)
        assert row["max_gap_s"] == max(d["max_gap_s"] for d in of_days)
        assert row["violations"] == [v for d in of_days for v in d["violations"]]


def test_a_month_from_derived_days_equals_the_recompute_however_it_is_folded(tmp_path, monkeypatch):
    """Every report kind; again with the fix time and (device, cell) pairs folded at
    every piece added (the fold a district's month needs), and for the month's days cut
    at 06:00 (two edges from the pings, the days between from the derived data)."""
    cases = [
        ("compliance", {}),
        ("coverage", {}),
        ("coverage", {"device_id": "d1"}),
        ("presence", {}),
    ]
    shifted = (START + dt.timedelta(hours=6), END - dt.timedelta(hours=18))
    with Store(build_month(tmp_path), read_only=True) as store:
        for start, end in ((START, END), shifted):
            expected = [reports(store, kind, start, end, recompute=True, **o) for kind, o in cases]
            assert [reports(store, kind, start, end, **o) for kind, o in cases] == expected
            monkeypatch.setattr(geofence.daily, "FOLD_ROWS", 0)
            assert [reports(store, kind, start, end, **o) for kind, o in cases] == expected
            monkeypatch.undo()
        presence = reports(store, "presence", START, END)
    # d0: 11 fixes a day, 10 of 60 s and the last of 120 s (segment_max_s), all inside A
    # d1: in B, inside its parent P: present all the time
    assert presence == [
        {"device_id": "d0", "grid_id": "A", "presence": 1.0},
        {"device_id": "d1", "grid_id": "P", "presence": 1.0},
    ]


def test_compliance_reads_no_cells(tmp_path):
    """With every derived cell deleted (the days still current), compliance still equals
    the recompute; coverage does not: it reads them."""
    db = build_month(tmp_path)
    with Store(db) as store, store.transaction() as con:
        con.execute("DELETE FROM derived_cells")
    with Store(db, read_only=True) as store:
        assert reports(store, "compliance", START, END) == reports(
            store, "compliance", START, END, recompute=True
        )
        covered = [r["covered"] for r in reports(store, "coverage", START, END)]
        recomputed = [r["covered"] for r in reports(store, "coverage", START, END, recompute=True)]
    assert covered == [0] * 5
    assert min(recomputed[:2]) > 0
