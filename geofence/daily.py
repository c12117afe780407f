"""Patrol facts by piece of time, and a window's report rows from the facts of its pieces.

A window [s, e) is cut at the local midnights inside it into pieces [a, b), each within one
day. The facts of a piece are what its usable fixes say on their own (``own``), and what
the segments from its last fixes to the next piece's first fixes say (``across``, used only
when the window goes on past b):

* visits: runs of the visits inside service time, each run (first, last, visits counted,
  the largest gap inside it) never longer between two visits than its grid's interval and
  never across a service period; in the first and last ``segment_max_s`` of the piece every
  visit is kept on its own, so the crossings of a segment across a midnight (which fall
  within ``segment_max_s`` of it) slot in between them exactly;
* fix time: per (device, leaf) the whole microseconds of fix time, clipped at b (``own``)
  and what the piece's last fix of each device adds past b (``across``);
* coverage: per device the raster cells of some leaf within reach of its fixes and segments.

Gaps are found from the runs: the gaps between runs and to the service periods' ends are
the only ones that can exceed the interval, and the largest gap inside a run is kept; so
every figure of docs/rules.md comes out exactly as from the window's fixes (fix time in
whole microseconds, overdue seconds summed exactly). A day's facts, computed once from
``pings`` and stored (tracks/derived.py), answer any window that holds the whole day.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple
from zoneinfo import ZoneInfo

import numpy as np

from geofence.compliance import LeafCompliance, compliance_table
from geofence.config import GeofenceSettings
from geofence.coverage import GridCells, LeafCells, coverage_table, device_row
from geofence.fixes import Fixes
from geofence.grids import GridSet, Leaves
from geofence.presence import presence_row, to_us
from geofence.service import service_intervals
from geofence.visits import crossing_visits

NO_END = np.iinfo(np.int64).max


class VisitRuns(NamedTuple):
    grid: np.ndarray  # int32 leaf index
    first: np.ndarray  # epoch seconds
    last: np.ndarray
    visits: np.ndarray  # int64 visits in the run
    inner: np.ndarray  # largest gap between consecutive visits of the run, s (0: one visit)


class FixTime(NamedTuple):
    device: np.ndarray  # int64 index into the facts' devices
    leaf: np.ndarray  # int32 leaf index, -1 outside every leaf
    us: np.ndarray  # int64 microseconds


class CoveredCells(NamedTuple):
    device: np.ndarray  # int64 index into the facts' devices
    cell: np.ndarray  # int64 raster index


class Part(NamedTuple):
    visits: VisitRuns
    time: FixTime
    cells: CoveredCells


@dataclass(frozen=True)
class PieceFacts:
    devices: list[str]
    own: Part
    across: Part


def empty_part() -> Part:
    f8, i8 = np.empty(0), np.empty(0, dtype=np.int64)
    return Part(
        VisitRuns(np.empty(0, dtype=np.int32), f8, f8, i8, f8),
        FixTime(i8, np.empty(0, dtype=np.int32), i8),
        CoveredCells(i8, i8),
    )


def day_bounds(day: dt.date, tz: ZoneInfo) -> tuple[float, float]:
    start = dt.datetime.combine(day, dt.time(), tz)
    return start.timestamp(), dt.datetime.combine(
        day + dt.timedelta(days=1), dt.time(), tz
    ).timestamp()


def pieces(start: float, end: float, tz: ZoneInfo) -> list[tuple[dt.date, float, float]]:
    """[start, end) cut at local midnights: (day, a, b) in time order."""
    out = []
    day = dt.datetime.fromtimestamp(start, tz).date()
    a = start
    while a < end:
        b = min(day_bounds(day, tz)[1], end)
        if b > a:
            out.append((day, a, b))
        a = max(a, b)
        day += dt.timedelta(days=1)
    return out


def piece_facts(
    grid_set: GridSet,
    cells: GridCells,
    fixes: Fixes,
    a: float,
    b: float,
    e: float,
    settings: GeofenceSettings,
) -> PieceFacts:
    """Facts of the piece [a, b) of a window ending at e (``e = inf`` for a stored day).

    ``fixes``: the usable fixes with a <= ts < min(b + segment_max_s, e), sorted by
    (device, ts), grids assigned."""
    seg = settings.segment_max_s
    tz = settings.tz
    own_rows = fixes.ts < b
    own = fixes.take(own_rows)
    # each device's last fix before b and its first at or after b: the segment across b
    last = np.flatnonzero(own_rows[:-1] & ~own_rows[1:] & (fixes.device[1:] == fixes.device[:-1]))
    pair_rows = np.ravel(np.column_stack([last, last + 1]))
    across = fixes.take(pair_rows)

    # visits: fixes inside a leaf, and crossings of segments within the piece
    inside = own.grid >= 0
    crossed = crossing_visits(grid_set, own, seg)
    grid = np.concatenate([own.grid[inside], crossed.grid])
    t = np.concatenate([own.ts[inside], crossed.ts])
    own_runs = visit_runs(grid_set, grid, t, a, b, seg, tz, singles=False)
    crossed_b = crossing_visits(grid_set, across, seg)
    across_runs = visit_runs(grid_set, crossed_b.grid, crossed_b.ts, a, b, seg, tz, singles=True)

    # fix time, in whole microseconds
    us = to_us(fixes.ts)
    b_us, e_us = int(to_us(b)), NO_END if e == np.inf else int(to_us(e))
    seg_us = int(to_us(seg))
    nxt = np.full(len(us), NO_END, dtype=np.int64)
    if len(us) > 1:
        nxt[:-1] = np.where(fixes.device[1:] == fixes.device[:-1], us[1:], NO_END)
    reach = np.minimum(nxt, us + seg_us)
    own_us = (np.minimum(reach, b_us) - us)[own_rows]
    past_b = np.maximum(0, np.minimum(reach, e_us) - b_us)[own_rows]
    spill = np.flatnonzero(past_b > 0)
    own_time = FixTime(own.device, own.grid, own_us)
    across_time = FixTime(own.device[spill], own.grid[spill], past_b[spill])

    return PieceFacts(
        devices=fixes.devices,
        own=Part(own_runs, own_time, covered_cells(grid_set, cells, own, settings)),
        across=Part(across_runs, across_time, covered_cells(grid_set, cells, across, settings)),
    )


def visit_runs(
    grid_set: Leaves,
    grid: np.ndarray,
    t: np.ndarray,
    a: float,
    b: float,
    seg: float,
    tz: ZoneInfo,
    *,
    singles: bool,
) -> VisitRuns:
    """The visits (grid, t) inside service time as runs: a run breaks at a gap over its
    grid's interval, at a service period's end, and around every visit within ``seg`` of
    a or b (those stay single); ``singles`` keeps every visit on its own."""
    period = np.full(len(t), -1, dtype=np.int64)
    hours_of: dict[str | None, list[int]] = {}
    for g, grid_id in enumerate(grid_set.ids):
        hours_of.setdefault(grid_set.by_id[grid_id].service_hours, []).append(g)
    for hours, members in hours_of.items():
        rows = np.flatnonzero(np.isin(grid, members))
        if not len(rows):
            continue
        k, ok = interval_of(service_intervals(hours, a, b + seg, tz), t[rows])
        period[rows[ok]] = k[ok]
    keep = period >= 0
    grid, t, period = grid[keep], t[keep], period[keep]
    order = np.lexsort((t, grid))
    grid, t, period = grid[order], t[order], period[order]
    n = len(t)
    if n == 0:
        return empty_part().visits
    interval = np.array([grid_set.by_id[i].interval_s for i in grid_set.ids], dtype=np.float64)
    gap = np.r_[0.0, np.diff(t)]
    single = (t < a + seg) | (t >= b - seg) | singles
    breaks = np.ones(n, dtype=np.bool_)
    breaks[1:] = (
        (grid[1:] != grid[:-1])
        | (period[1:] != period[:-1])
        | single[1:]
        | single[:-1]
        | (gap[1:] > interval[grid[1:]])
    )
    starts = np.flatnonzero(breaks)
    ends = np.r_[starts[1:], n]
    inner = np.where(breaks, 0.0, gap)
    return VisitRuns(
        grid=grid[starts].astype(np.int32),
        first=t[starts],
        last=t[ends - 1],
        visits=(ends - starts).astype(np.int64),
        inner=np.maximum.reduceat(inner, starts),
    )


def covered_cells(
    grid_set: GridSet, cells: GridCells, fixes: Fixes, settings: GeofenceSettings
) -> CoveredCells:
    """Per device, the cells of some leaf within reach of its fixes and segments."""
    from geofence._tracks import (
        collect_cells,  # a kernel module: loaded where it runs (geofence/__init__.py)
    )

    x, y = grid_set.plane.to_xy(fixes.lon, fixes.lat)
    keep = cells.leaf_cells.keep()
    capacity = max(1024, 16 * len(fixes))
    while True:
        out_device = np.empty(capacity, dtype=np.int64)
        out_cell = np.empty(capacity, dtype=np.int64)
        found = collect_cells(
            ts=fixes.ts,
            x=np.ascontiguousarray(x),
            y=np.ascontiguousarray(y),
            device=fixes.device,
            max_dt=settings.segment_max_s,
            cell_m=cells.cell_m,
            reach_m=settings.reach_m,
            i0=cells.i0,
            j0=cells.j0,
            nx=cells.nx,
            ny=cells.ny,
            keep=keep,
            last=np.full(len(keep), -1, dtype=np.int64),
            out_device=out_device,
            out_cell=out_cell,
        )
        if found <= capacity:
            return CoveredCells(out_device[:found], out_cell[:found])
        capacity = found


#: The facts a window can hold: runs of visits, fix time per (device, leaf), the cells
#: some device covered, and the cells each device covered.
ALL_FACTS = frozenset({"visits", "time", "cells", "device_cells"})
#: What each report kind reads of a window's facts (compliance reads no cells at all).
NEEDS: dict[str, frozenset[str]] = {
    "compliance": frozenset({"visits"}),
    "coverage": frozenset({"cells"}),
    "device_coverage": frozenset({"time", "device_cells"}),
    "presence": frozenset({"time"}),
}
#: Rows of added fix time or (device, cell) pairs held before they are folded (summed or
#: made distinct): folding when the rows double keeps the cost linear, the memory bounded
#: by the distinct keys (not by days).
FOLD_ROWS = 1 << 20


@dataclass
class WindowFacts:
    """The facts of a window's pieces, folded as they are added: runs of visits kept, fix
    time summed per (device, leaf), covered cells marked on a raster and (device, cell)
    pairs kept distinct, each only when ``needs`` names it. Memory grows with grids and
    devices (and runs with days), never with pings; the rows come out the same in
    whatever order the pieces are added."""

    grids: Leaves
    cells: LeafCells
    start: float
    end: float
    tz: ZoneInfo
    needs: frozenset[str] = ALL_FACTS
    devices: dict[str, int] = field(default_factory=dict)
    runs: list[VisitRuns] = field(default_factory=list)
    time: list[FixTime] = field(default_factory=list)
    pairs: list[np.ndarray] = field(default_factory=list)  # device << 32 | cell
    stamp: np.ndarray = field(init=False)  # 1 where some device covered the cell
    _folded: dict[str, int] = field(default_factory=lambda: {"time": 0, "pairs": 0})

    def __post_init__(self) -> None:
        size = self.cells.size if "cells" in self.needs else 0
        self.stamp = np.zeros(size, dtype=np.int32)

    def index(self, devices: list[str]) -> np.ndarray:
        """The window's index of each device (new ones added)."""
        return np.array(
            [self.devices.setdefault(d, len(self.devices)) for d in devices], dtype=np.int64
        )

    def add(self, devices: list[str], part: Part) -> None:
        """A piece's part; its device indices are into ``devices``."""
        index = self.index(devices)
        self.add_runs(part.visits)
        self.add_time(part.time._replace(device=index[part.time.device]))
        self.add_cells(part.cells._replace(device=index[part.cells.device]))

    def add_runs(self, runs: VisitRuns) -> None:
        if "visits" in self.needs:
            self.runs.append(runs)

    def add_time(self, time: FixTime) -> None:
        """Fix time, its devices indexed in the window (:meth:`index`)."""
        if "time" not in self.needs:
            return
        self.time.append(time)
        if self._grew("time", sum(len(t.us) for t in self.time)):
            self.time = [_summed(self._time())]

    def add_cells(self, covered: CoveredCells) -> None:
        """Covered cells, their devices indexed in the window (:meth:`index`)."""
        if "cells" in self.needs:
            self.stamp[covered.cell] = 1
        if "device_cells" not in self.needs:
            return
        self.pairs.append(covered.device * (1 << 32) + covered.cell)
        if self._grew("pairs", sum(len(p) for p in self.pairs)):
            self.pairs = [np.unique(np.concatenate(self.pairs))]

    def _grew(self, what: str, rows: int) -> bool:
        """Whether ``rows`` held call for a fold; if so, the fold is counted as done."""
        if rows <= 2 * self._folded[what] + FOLD_ROWS:
            return False
        self._folded[what] = rows
        return True

    def _need(self, *facts: str) -> None:
        missing = sorted(set(facts) - self.needs)
        if missing:
            raise ValueError(f"the window's facts were read without {missing}")

    def _time(self) -> FixTime:
        parts = self.time or [empty_part().time]
        return FixTime(*(np.concatenate(c) for c in zip(*parts, strict=True)))

    def _pairs(self) -> np.ndarray:
        return np.unique(np.concatenate(self.pairs)) if self.pairs else np.empty(0, np.int64)

    def _seen(self, time: FixTime) -> list[tuple[str, int]]:
        """Devices with a fix in the window, in device id order (as the fixes are read)."""
        having = set(np.unique(time.device).tolist())
        return sorted((d, i) for d, i in self.devices.items() if i in having)

    def compliance(self) -> list[dict[str, object]]:
        self._need("visits")
        parts = self.runs or [empty_part().visits]
        runs = VisitRuns(*(np.concatenate(c) for c in zip(*parts, strict=True)))
        # every column a key: runs that tie on (leaf, first) are equal, in any order added
        order = np.lexsort((runs.inner, runs.visits, runs.last, runs.first, runs.grid))
        runs = VisitRuns(*(c[order] for c in runs))
        return compliance_table(
            self.grids, leaves_from_runs(self.grids, runs, self.start, self.end, self.tz), self.tz
        )

    def presence(self, assigned: dict[str, str]) -> list[dict[str, object]]:
        self._need("time")
        time = _summed(self._time())
        bounds = np.searchsorted(time.device, np.arange(len(self.devices) + 1))
        rows = []
        for device_id, d in self._seen(time):
            grid_id = assigned.get(device_id)
            if grid_id is None or grid_id not in self.grids.by_id:
                continue
            lo, hi = int(bounds[d]), int(bounds[d + 1])
            rows.append(
                presence_row(self.grids, device_id, grid_id, time.leaf[lo:hi], time.us[lo:hi])
            )
        return rows

    def coverage(self) -> list[dict[str, object]]:
        self._need("cells")
        return coverage_table(self.grids, self.cells, self.stamp)

    def device_coverage(self, assigned: dict[str, str]) -> list[dict[str, object]]:
        self._need("time", "device_cells")
        pairs = self._pairs()  # sorted: by device, then cell
        device, cell = pairs >> 32, pairs & 0xFFFFFFFF
        bounds = np.searchsorted(device, np.arange(len(self.devices) + 1))
        stamp = np.zeros(self.cells.size, dtype=np.int32)
        rows = []
        for device_id, d in self._seen(self._time()):
            grid_id = assigned.get(device_id)
            if grid_id is None or grid_id not in self.grids.by_id:
                continue
            stamp[cell[int(bounds[d]) : int(bounds[d + 1])]] = d + 1
            rows.append(device_row(self.grids, self.cells, device_id, grid_id, stamp, d + 1))
        return rows


def _summed(time: FixTime) -> FixTime:
    """Fix time added up per (device, leaf): what presence needs of a piece's fixes."""
    if len(time.us) == 0:
        return time
    key = time.device * (1 << 32) + (time.leaf.astype(np.int64) + 1)
    keys, where = np.unique(key, return_inverse=True)
    us = np.zeros(len(keys), dtype=np.int64)
    np.add.at(us, where, time.us)
    return FixTime(keys >> 32, ((keys & 0xFFFFFFFF) - 1).astype(np.int32), us)


def leaves_from_runs(
    grids: Leaves, runs: VisitRuns, start: float, end: float, tz: ZoneInfo
) -> dict[str, LeafCompliance]:
    """Every leaf's figures from the runs (sorted by leaf, then first visit): the gaps are
    each service interval's start to its first run, run to run, and last run to its end.
    Leaves that share service hours share their intervals, and are done together."""
    n = len(grids.ids)
    interval = np.array([grids.by_id[i].interval_s for i in grids.ids], dtype=np.float64)
    visits = np.zeros(n, dtype=np.int64)
    inner = np.zeros(n)
    window = np.zeros(n)
    gap_grid, gap_start, gap_end = [], [], []
    by_hours: dict[str | None, list[int]] = {}
    for g, grid_id in enumerate(grids.ids):
        by_hours.setdefault(grids.by_id[grid_id].service_hours, []).append(g)
    for hours, group in by_hours.items():
        intervals = service_intervals(hours, start, end, tz)
        members = np.asarray(group, dtype=np.int64)
        window[members] = float((intervals[:, 1] - intervals[:, 0]).sum())
        slots = len(intervals)
        if slots == 0:
            continue
        local = np.full(n, -1, dtype=np.int64)
        local[members] = np.arange(len(members))
        k, inside = interval_of(intervals, runs.first)
        keep = inside & (local[runs.grid] >= 0)
        grid, k, first, last = runs.grid[keep], k[keep], runs.first[keep], runs.last[keep]
        np.add.at(visits, grid, runs.visits[keep])
        np.maximum.at(inner, grid, runs.inner[keep])
        slot = local[grid] * slots + k  # non-decreasing: runs are in (leaf, time) order
        opens = np.r_[True, slot[1:] != slot[:-1]] if len(slot) else np.empty(0, dtype=np.bool_)
        closes = np.r_[slot[1:] != slot[:-1], True] if len(slot) else opens
        # the gap before each run: from the interval's start, or from the run before
        gap_grid.append(grid)
        gap_start.append(np.where(opens, intervals[k, 0], np.r_[0.0, last[:-1]]))
        gap_end.append(first)
        # the gap closing each interval of each leaf: from its last run, or its start
        tail = np.tile(intervals[:, 0], len(members))
        tail[slot[closes]] = last[closes]
        gap_grid.append(np.repeat(members, slots))
        gap_start.append(tail)
        gap_end.append(np.tile(intervals[:, 1], len(members)))
    gap_leaf = np.concatenate(gap_grid) if gap_grid else np.empty(0, dtype=np.int64)
    a = np.concatenate(gap_start) if gap_start else np.empty(0)
    b = np.concatenate(gap_end) if gap_end else np.empty(0)
    longest = inner.copy()
    np.maximum.at(longest, gap_leaf, b - a)
    over = (b - a) - interval[gap_leaf]
    late = np.flatnonzero(over > 0)
    late = late[np.lexsort((a[late], gap_leaf[late]))]
    bounds = np.searchsorted(gap_leaf[late], np.arange(n + 1))
    leaves = {}
    for i, grid_id in enumerate(grids.ids):
        mine = late[bounds[i] : bounds[i + 1]]
        leaves[grid_id] = LeafCompliance(
            int(visits[i]),
            float(longest[i]),
            math.fsum(over[mine].tolist()),
            float(window[i]),
            list(zip(a[mine].tolist(), b[mine].tolist(), strict=True)),
        )
    return leaves


def interval_of(intervals: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each time, the index of the [start, end) interval holding it, and whether one does."""
    if len(intervals) == 0:
        return np.full(len(t), -1, dtype=np.int64), np.zeros(len(t), dtype=np.bool_)
    k = np.searchsorted(intervals[:, 0], t, side="right") - 1
    return k, (k >= 0) & (t < intervals[np.maximum(k, 0), 1])


def window_facts(
    facts: WindowFacts,
    settings: GeofenceSettings,
    stored: Mapping[dt.date, float],
    compute: Callable[[float, float, float], PieceFacts],
) -> list[tuple[dt.date, bool]]:
    """Add to ``facts`` (of [start, end)) the pieces computed from the fixes, and return
    the parts to take from the stored days: (day, across), ``across`` false for its own.

    ``stored``: per day, ``through``: its facts of [the day's start, through) are stored,
    derived as for a window going on past ``through``; taken where the window holds that
    whole span. Every other piece comes from ``compute(a, b, end)``: the facts of [a, b)
    from the fixes in [a, min(b + segment_max_s, end)).

    Stored ``across`` facts hold for a window going on at least ``segment_max_s`` past
    ``through``; closer to the window's end they are computed from the fixes around it."""
    tz = settings.tz
    seg = settings.segment_max_s
    start, end = facts.start, facts.end
    taken = []
    for day, a, b in pieces(start, end, tz):
        through = stored.get(day) if a == day_bounds(day, tz)[0] else None
        if through is not None and a < through <= b:
            taken.append((day, False))
            if through < end:
                if end < through + seg:
                    piece = compute(max(start, through - seg), through, end)
                    facts.add(piece.devices, piece.across)
                else:
                    taken.append((day, True))
            a = through
        if a < b:
            piece = compute(a, b, end)
            facts.add(piece.devices, piece.own)
            if b < end:
                facts.add(piece.devices, piece.across)
    return taken
