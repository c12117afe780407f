"""Coverage: cells near fixes and segments (see tests/geofence/scene.py for the track)."""

from __future__ import annotations

from geofence.coverage import coverage_rows, device_coverage_rows, grid_cells
from tests.geofence.scene import SETTINGS


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
