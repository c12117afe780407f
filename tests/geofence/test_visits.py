"""Visits: fixes inside a grid, and segments crossing a grid (see tests/geofence/scene.py)."""

from __future__ import annotations

from geofence.visits import find_visits
from tests.geofence.scene import SETTINGS, START


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
