"""Visits: usable fixes inside a grid, and segments crossing a grid between two fixes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geofence.fixes import Fixes
from geofence.grids import GridSet


@dataclass(frozen=True)
class Visits:
    grid: np.ndarray  # int32 leaf index
    ts: np.ndarray  # epoch seconds; sorted by (grid, ts)


def crossing_visits(grid_set: GridSet, fixes: Fixes, segment_max_s: float) -> Visits:
    """Visits of grids that a segment enters while neither of its fixes is inside them."""
    from geofence._tracks import (
        find_crossings,  # a kernel module: loaded where it runs (geofence/__init__.py)
    )

    s = grid_set
    capacity = max(1024, len(fixes) // 8)
    while True:
        out_grid = np.empty(capacity, dtype=np.int32)
        out_time = np.empty(capacity, dtype=np.float64)
        found = find_crossings(
            device=fixes.device,
            ts=fixes.ts,
            lon=fixes.lon,
            lat=fixes.lat,
            grid=fixes.grid,
            max_dt=segment_max_s,
            rings=s.rings,
            candidates=s.coarse,
            out_grid=out_grid,
            out_time=out_time,
        )
        if found <= capacity:
            return Visits(out_grid[:found], out_time[:found])
        capacity = found


def find_visits(grid_set: GridSet, fixes: Fixes, segment_max_s: float) -> Visits:
    inside = fixes.grid >= 0
    crossed = crossing_visits(grid_set, fixes, segment_max_s)
    grid = np.concatenate([fixes.grid[inside], crossed.grid])
    ts = np.concatenate([fixes.ts[inside], crossed.ts])
    order = np.lexsort((ts, grid))
    return Visits(np.ascontiguousarray(grid[order]), np.ascontiguousarray(ts[order]))
