"""The interval rule: gaps between visits of each grid, during its service hours."""

from __future__ import annotations

import math
from typing import NamedTuple
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from geofence.grids import GridSet, Leaves
from geofence.service import service_intervals
from geofence.visits import Visits


def iso_times(ts: np.ndarray, tz: ZoneInfo) -> list[str]:
    """``datetime.fromtimestamp(t, tz).isoformat()`` of every time, formatted in one go
    (a month's violations of a district are tens of thousands of them)."""
    ts = np.asarray(ts, dtype=np.float64)
    whole = np.floor(ts)  # as fromtimestamp: the fraction rounded half-even to microseconds
    us = whole.astype(np.int64) * 1_000_000 + np.rint((ts - whole) * 1e6).astype(np.int64)
    local = pl.Series(us).cast(pl.Datetime("us", "UTC")).dt.convert_time_zone(tz.key)
    return (
        pl.when(pl.Series(us % 1_000_000 == 0))
        .then(local.dt.strftime("%Y-%m-%dT%H:%M:%S%:z"))
        .otherwise(local.dt.strftime("%Y-%m-%dT%H:%M:%S%.6f%:z"))
        .pipe(lambda expr: pl.select(expr).to_series())
        .to_list()
    )


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


class LeafCompliance(NamedTuple):
    """One leaf's figures over a window, before rounding."""

    visits: int
    max_gap: float
    overdue: float
    window: float  # service seconds in the window
    violations: list[tuple[float, float]]  # (gap start, gap end) of each gap over the interval


def leaf_compliance(
    gap_start: np.ndarray,
    gap_end: np.ndarray,
    visits: int,
    inner_max: float,
    interval_s: float,
    window: float,
) -> LeafCompliance:
    """Figures from a leaf's gaps; ``inner_max`` is the largest gap known to be within the
    interval that is not listed in the gaps (inside runs of visits), 0 when none."""
    gaps = gap_end - gap_start
    over = np.maximum(0.0, gaps - interval_s)
    late = over > 0
    max_gap = max(float(gaps.max()) if len(gaps) else 0.0, inner_max)
    # an exact sum: the same gaps give the same figure in whatever order they are added
    overdue = math.fsum(over[late].tolist())
    violations = list(zip(gap_start[late].tolist(), gap_end[late].tolist(), strict=True))
    return LeafCompliance(visits, max_gap, overdue, window, violations)


def compliance_table(
    grid_set: Leaves, leaves: dict[str, LeafCompliance], tz: ZoneInfo
) -> list[dict[str, object]]:
    """One row per leaf in file order, then one per parent (aggregating its leaves)."""
    rows: dict[str, dict[str, object]] = {}
    late = [
        (grid_set.by_id[i].interval_s, a, b) for i in grid_set.ids for a, b in leaves[i].violations
    ]
    times = iter(iso_times(np.array([t for i, a, b in late for t in (a + i, b)]), tz))
    for grid_id in grid_set.ids:
        leaf = leaves[grid_id]
        rows[grid_id] = _row(
            grid_id,
            leaf.visits,
            leaf.max_gap,
            leaf.overdue,
            leaf.window,
            [[next(times), next(times)] for _ in leaf.violations],
        )
    tree = grid_set.tree
    for parent in tree.parents:
        under = [leaves[i] for i in tree.leaves_under[parent]]
        rows[parent] = _row(
            parent,
            sum(leaf.visits for leaf in under),
            max((leaf.max_gap for leaf in under), default=0.0),
            sum(leaf.overdue for leaf in under),
            sum(leaf.window for leaf in under),
            [],
        )
    return [rows[i] for i in grid_set.ids] + [rows[i] for i in tree.parents]


def _row(
    grid_id: str,
    visits: int,
    max_gap: float,
    overdue: float,
    window: float,
    violations: list[list[str]],
) -> dict[str, object]:
    return {
        "grid_id": grid_id,
        "visits": visits,
        "max_gap_s": round(max_gap, 3),
        "overdue_s": round(overdue, 3),
        "compliance": round(1.0 - overdue / window, 6) if window > 0 else None,
        "violations": violations,
    }


def service_seconds(intervals: np.ndarray) -> float:
    return float((intervals[:, 1] - intervals[:, 0]).sum())


def compliance_rows(
    grid_set: GridSet, visits: Visits, start: float, end: float, tz: ZoneInfo
) -> list[dict[str, object]]:
    """One row per leaf in file order, then one per parent (aggregating its leaves)."""
    bounds = np.searchsorted(visits.grid, np.arange(len(grid_set.ids) + 1), side="left")
    leaves: dict[str, LeafCompliance] = {}
    for g, grid_id in enumerate(grid_set.ids):
        grid = grid_set.by_id[grid_id]
        intervals = service_intervals(grid.service_hours, start, end, tz)
        ts = visits.ts[bounds[g] : bounds[g + 1]]
        gap_start, gap_end, count = grid_gaps(ts, intervals)
        leaves[grid_id] = leaf_compliance(
            gap_start, gap_end, count, 0.0, grid.interval_s, service_seconds(intervals)
        )
    return compliance_table(grid_set, leaves, tz)
