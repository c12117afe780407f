"""The interval rule: gaps between visits of each grid, during its service hours."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np

from geofence.grids import GridSet
from geofence.service import service_intervals
from geofence.visits import Visits


def iso(ts: float, tz: ZoneInfo) -> str:
    return dt.datetime.fromtimestamp(ts, tz).isoformat()


def grid_gaps(visit_ts: np.ndarray, intervals: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Gap (start, end) pairs of one grid: each service interval's start to its first visit,
    visit to visit, last visit to the interval's end. Returns starts, ends, visits counted."""
    starts: list[np.ndarray] = []
    ends: list[np.ndarray] = []
    counted = 0
    for a, b in intervals:
        lo, hi = np.searchsorted(visit_ts, [a, b], side="left")
        points = np.concatenate([[a], visit_ts[lo:hi], [b]])
        counted += int(hi - lo)
        starts.append(points[:-1])
        ends.append(points[1:])
    if not starts:
        return np.empty(0), np.empty(0), 0
    return np.concatenate(starts), np.concatenate(ends), counted


def compliance_rows(
    grid_set: GridSet, visits: Visits, start: float, end: float, tz: ZoneInfo
) -> list[dict[str, object]]:
    """One row per leaf in file order, then one per parent (aggregating its leaves)."""
    bounds = np.searchsorted(visits.grid, np.arange(len(grid_set.ids) + 1), side="left")
    rows: dict[str, dict[str, object]] = {}
    totals: dict[str, tuple[int, float, float, float]] = {}
    for g, grid_id in enumerate(grid_set.ids):
        grid = grid_set.by_id[grid_id]
        intervals = service_intervals(grid.service_hours, start, end, tz)
        ts = visits.ts[bounds[g] : bounds[g + 1]]
        gap_start, gap_end, count = grid_gaps(ts, intervals)
        gaps = gap_end - gap_start
        over = np.maximum(0.0, gaps - grid.interval_s)
        overdue = float(over.sum())
        window = float((intervals[:, 1] - intervals[:, 0]).sum())
        max_gap = float(gaps.max()) if len(gaps) else 0.0
        late = over > 0
        rows[grid_id] = {
            "grid_id": grid_id,
            "visits": count,
            "max_gap_s": round(max_gap, 3),
            "overdue_s": round(overdue, 3),
            "compliance": round(1.0 - overdue / window, 6) if window > 0 else None,
            "violations": [
                [iso(a + grid.interval_s, tz), iso(b, tz)]
                for a, b in zip(gap_start[late], gap_end[late], strict=True)
            ],
        }
        totals[grid_id] = (count, max_gap, overdue, window)
    tree = grid_set.tree
    for parent in tree.parents:
        leaves = tree.leaves_under[parent]
        count = sum(totals[i][0] for i in leaves)
        max_gap = max((totals[i][1] for i in leaves), default=0.0)
        overdue = sum(totals[i][2] for i in leaves)
        window = sum(totals[i][3] for i in leaves)
        rows[parent] = {
            "grid_id": parent,
            "visits": count,
            "max_gap_s": round(max_gap, 3),
            "overdue_s": round(overdue, 3),
            "compliance": round(1.0 - overdue / window, 6) if window > 0 else None,
            "violations": [],
        }
    return [rows[i] for i in grid_set.ids] + [rows[i] for i in tree.parents]
