"""Visits, gaps, coverage and presence on a hand-built track, with the answers written out.

Grids (tests/geofence/town.py): A x in [-160, -40], B x in [-40, 40], C x in [40, 160],
y in [-60, 60] metres; parent P. Window 08:00-09:00 Asia/Shanghai, interval 30 min.
Device d1 (assigned to A): 08:10:00 at (-100, 0) in A; 08:45:00 at (-60, 0) in A;
08:45:12 at (60, 0) in C. The 12 s segment crosses B, entering at x = -40: t = 20/120, so
B is visited at 08:45:02.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from geofence.compliance import compliance_rows
from geofence.config import GeofenceSettings
from geofence.coverage import coverage_rows, device_coverage_rows, grid_cells
from geofence.fixes import make_fixes
from geofence.grids import load_grids
from geofence.presence import presence_rows
from geofence.visits import find_visits
from tests.geofence.town import lonlat, three_in_a_row

TZ = ZoneInfo("Asia/Shanghai")
START = dt.datetime(2026, 11, 20, 8, 0, tzinfo=TZ).timestamp()
END = START + 3600
SETTINGS = GeofenceSettings()


def at(minute: int, second: int = 0) -> float:
    return START + minute * 60 + second


@pytest.fixture
def scene(tmp_path):
    grid_set = load_grids(three_in_a_row(tmp_path / "grids.geojson"))
    points = [(-100, 0), (-60, 0), (60, 0)]
    lon, lat = zip(*(lonlat(x, y) for x, y in points), strict=True)
    fixes = make_fixes(
        grid_set, ["d1"] * 3, np.array([at(10), at(45), at(45, 12)]), np.array(lon), np.array(lat)
    )
    return grid_set, fixes


def test_fixes_land_in_their_grids(scene):
    grid_set, fixes = scene
    assert [grid_set.ids[g] for g in fixes.grid] == ["A", "A", "C"]


def test_crossing_visit_is_interpolated_at_first_entry(scene):
    grid_set, fixes = scene
    visits = find_visits(grid_set, fixes, SETTINGS.segment_max_s)
    got = [
        (grid_set.ids[g], round(t - START, 6)) for g, t in zip(visits.grid, visits.ts, strict=True)
    ]
    assert got == [("A", 600.0), ("A", 2700.0), ("B", 2702.0), ("C", 2712.0)]


def test_no_crossing_when_the_segment_is_too_long_in_time(scene):
    grid_set, fixes = scene
    visits = find_visits(grid_set, fixes, segment_max_s=10.0)
    assert "B" not in [grid_set.ids[g] for g in visits.grid]


def test_gaps_overdue_compliance_and_violations(scene):
    grid_set, fixes = scene
    visits = find_visits(grid_set, fixes, SETTINGS.segment_max_s)
    rows = {r["grid_id"]: r for r in compliance_rows(grid_set, visits, START, END, TZ)}
    assert rows["A"] == {
        "grid_id": "A", "visits": 2, "max_gap_s": 2100.0, "overdue_s": 300.0,
        "compliance": round(1 - 300 / 3600, 6),
        "violations": [["2026-11-20T08:40:00+08:00", "2026-11-20T08:45:00+08:00"]],
    }  # fmt: skip
    assert rows["B"] == {
        "grid_id": "B", "visits": 1, "max_gap_s": 2702.0, "overdue_s": 902.0,
        "compliance": round(1 - 902 / 3600, 6),
        "violations": [["2026-11-20T08:30:00+08:00", "2026-11-20T08:45:02+08:00"]],
    }  # fmt: skip
    assert rows["C"]["max_gap_s"] == 2712.0 and rows["C"]["overdue_s"] == 912.0
    assert rows["P"] == {
        "grid_id": "P", "visits": 4, "max_gap_s": 2712.0, "overdue_s": 2114.0,
        "compliance": round(1 - 2114 / 10800, 6), "violations": [],
    }  # fmt: skip


def test_service_hours_cut_the_window(tmp_path):
    grid_set = load_grids(three_in_a_row(tmp_path / "g.geojson", service_hours="08:30-20:00"))
    lon, lat = lonlat(-100, 0)
    fixes = make_fixes(grid_set, ["d1"], np.array([at(10)]), np.array([lon]), np.array([lat]))
    visits = find_visits(grid_set, fixes, SETTINGS.segment_max_s)
    rows = {r["grid_id"]: r for r in compliance_rows(grid_set, visits, START, END, TZ)}
    # only 08:30-09:00 counts, and the 08:10 visit is outside it: one 1800 s gap, not overdue
    assert rows["A"]["visits"] == 0
    assert rows["A"]["max_gap_s"] == 1800.0 and rows["A"]["overdue_s"] == 0.0
    assert rows["A"]["compliance"] == 1.0


def test_coverage_of_cells_near_fixes_and_segments(scene):
    grid_set, fixes = scene
    cells = grid_cells(grid_set, SETTINGS.cell_m)
    rows = {
        r["grid_id"]: (r["cells"], r["covered"])
        for r in coverage_rows(grid_set, cells, fixes, SETTINGS.reach_m, SETTINGS.segment_max_s)
    }
    # A: fix at (-100, 0) covers centres (-110|-90, ±10); the segment (-70|-50, ±10)
    # B: the segment covers (-30|-10|10|30, ±10); C: (50|70, ±10)
    assert rows == {"A": (36, 8), "B": (24, 8), "C": (36, 4), "P": (96, 20)}
    per_device = device_coverage_rows(
        grid_set, cells, fixes, {"d1": "A"}, SETTINGS.reach_m, SETTINGS.segment_max_s
    )
    assert per_device == [
        {"device_id": "d1", "grid_id": "A", "cells": 36, "covered": 8, "coverage": 0.222222}
    ]


def test_presence_counts_fix_time_inside_the_assigned_grid(scene):
    grid_set, fixes = scene
    rows = presence_rows(grid_set, fixes, {"d1": "A", "d2": "B"}, END, SETTINGS.segment_max_s)
    # 08:10 in A stands 120 s, 08:45:00 in A 12 s, 08:45:12 in C 120 s
    assert rows == [{"device_id": "d1", "grid_id": "A", "presence": round(132 / 252, 6)}]
    parent = presence_rows(grid_set, fixes, {"d1": "P"}, END, SETTINGS.segment_max_s)
    assert parent[0]["presence"] == 1.0
