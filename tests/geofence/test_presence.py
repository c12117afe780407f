"""Presence: fix time inside the assigned grid (see tests/geofence/scene.py for the track)."""

from __future__ import annotations

from geofence.presence import presence_rows
from tests.geofence.scene import END, SETTINGS


def test_presence_counts_fix_time_inside_the_assigned_grid(scene):
    grid_set, fixes = scene
    rows = presence_rows(grid_set, fixes, {"d1": "A", "d2": "B"}, END, SETTINGS.segment_max_s)
    # 08:10 in A stands 120 s, 08:45:00 in A 12 s, 08:45:12 in C 120 s
    assert rows == [{"device_id": "d1", "grid_id": "A", "presence": round(132 / 252, 6)}]
    parent = presence_rows(grid_set, fixes, {"d1": "P"}, END, SETTINGS.segment_max_s)
    assert parent[0]["presence"] == 1.0
