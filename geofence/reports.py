"""Reports over a window: compliance, coverage and presence rows from fixes (no storage)."""

from __future__ import annotations

import datetime as dt

from geofence.compliance import compliance_rows
from geofence.config import GeofenceSettings
from geofence.coverage import coverage_rows, device_coverage_rows, grid_cells
from geofence.fixes import Fixes
from geofence.grids import GridSet
from geofence.presence import presence_rows
from geofence.visits import find_visits

KINDS = ("compliance", "coverage", "presence")


def compute_report(
    kind: str,
    grid_set: GridSet,
    fixes: Fixes,
    start: dt.datetime,
    end: dt.datetime,
    settings: GeofenceSettings,
    assigned: dict[str, str],
    *,
    by_device: bool = False,
) -> list[dict[str, object]]:
    t0, t1 = start.timestamp(), end.timestamp()
    if kind == "compliance":
        visits = find_visits(grid_set, fixes, settings.segment_max_s)
        return compliance_rows(grid_set, visits, t0, t1, settings.tz)
    if kind == "coverage":
        cells = grid_cells(grid_set, settings.cell_m)
        if by_device:
            return device_coverage_rows(
                grid_set, cells, fixes, assigned, settings.reach_m, settings.segment_max_s
            )
        return coverage_rows(grid_set, cells, fixes, settings.reach_m, settings.segment_max_s)
    if kind == "presence":
        return presence_rows(grid_set, fixes, assigned, t1, settings.segment_max_s)
    raise ValueError(kind)
