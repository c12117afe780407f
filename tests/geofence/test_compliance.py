"""The interval rule: gaps, overdue time, compliance and violations (see
tests/geofence/scene.py for the track)."""

from __future__ import annotations

from geofence.compliance import compliance_rows
from geofence.visits import find_visits
from tests.geofence.scene import END, SETTINGS, START, TZ


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
