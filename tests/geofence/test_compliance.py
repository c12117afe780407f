"""The interval rule: gaps, overdue time, compliance and violations (see
tests/geofence/scene.py for the track)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from geofence.compliance import compliance_rows, iso_times
from geofence.visits import find_visits
from tests.geofence.scene import END, SETTINGS, START, TZ


def test_gaps_overdue_compliance_and_violations(scene):
    grid_set, fixes = scene
    visits = find_visits(grid_set, fixes, SETTINGS.segment_max_s)
    rows = {r["grid_id"]: r for r in compliance_rows(grid_set, visits, START, END, TZ)}
    assert rows["A"] == {
        "grid_id": "A",
        "visits": 2,
        "max_gap_s": 2100.0,
        "overdue_s": 300.0,
        "compliance": round(1 - 300 / 3600, 6),
        "violations": [["2026-11-20T08:40:00+08:00", "2026-11-20T08:45:00+08:00"]],
    }
    assert rows["B"] == {
        "grid_id": "B",
        "visits": 1,
        "max_gap_s": 2702.0,
        "overdue_s": 902.0,
        "compliance": round(1 - 902 / 3600, 6),
        "violations": [["2026-11-20T08:30:00+08:00", "2026-11-20T08:45:02+08:00"]],
    }
    assert rows["C"]["max_gap_s"] == 2712.0 and rows["C"]["overdue_s"] == 912.0
    assert rows["P"] == {
        "grid_id": "P",
        "visits": 4,
        "max_gap_s": 2712.0,
        "overdue_s": 2114.0,
        "compliance": round(1 - 2114 / 10800, 6),
        "violations": [],
    }


@given(
    st.lists(st.floats(-1e9, 4e9), max_size=50),
    st.sampled_from(["Asia/Shanghai", "Europe/Berlin", "America/St_Johns", "UTC"]),
)
def test_violation_times_are_formatted_as_isoformat_does(seconds, zone):
    tz = ZoneInfo(zone)
    expected = [dt.datetime.fromtimestamp(t, tz).isoformat() for t in seconds]
    assert iso_times(np.array(seconds), tz) == expected
