"""Live worker alerts (越界/脱岗, 滞留, 缺岗, 失联): the roster's workers judged at the live
clock's now. docs/rules.md, "Worker alerts", defines each condition; the kernel that advances
each device's state with new fixes is geofence/_workers.py.

Pure: the roster, the calendar and the fixes come from patrol (patrol/workers.py loads them
from storage). Each rostered device is a slot of flat arrays; the conditions of all slots are
evaluated at once with numpy, and an alert is made only where a condition starts or ends.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import shapely

from geofence._workers import advance
from geofence.alerts import WORKER_ENDED_BY, Alert, AlertKind
from geofence.grids import GridSet
from geofence.rosters import Calendar, RosterEntry, WorkerShift, shifts_on

DAY_S = 86_400.0
#: The shift table holds the shifts starting on the local days [today - 1, today + 1]; a
#: shift's key is its slot times this span plus its start after the window's first midnight
#: (a shift ends at most two days after that midnight's day, so keys never cross slots).
SPAN_S = 5 * DAY_S


@dataclass(frozen=True)
class WorkerRules:
    """The thresholds of the four conditions (from patrol.config.LiveSettings and the
    attendance grace), seconds and metres."""

    out_after_s: float
    out_buffer_m: float
    stationary_after_s: float
    stationary_within_m: float
    silent_after_s: float
    grace_s: float


#: The slowest pace an estimate of arrival assumes (a worker standing still can still walk).
WALKING_MPS = 1.2


@dataclass(frozen=True)
class Nearby:
    """A worker on shift near a grid: straight-line distance (m) and estimated arrival (s)."""

    worker: str
    device_id: str
    distance_m: float
    eta_s: float


@dataclass(frozen=True)
class OpenCondition:
    kind: AlertKind
    device_id: str
    at: float


class ShiftTable:
    """The worker-shifts of three local days as flat arrays sorted by (slot, start)."""

    def __init__(
        self,
        shifts: list[WorkerShift],
        slot_of: dict[str, int],
        target_of: dict[str, int],
        first_midnight: float,
    ) -> None:
        rows = sorted(
            (s for s in shifts if s.device_id in slot_of and s.grid_id in target_of),
            key=lambda s: (slot_of[s.device_id], s.start),
        )
        self.shifts = rows
        self.origin = first_midnight
        self.slot = np.array([slot_of[s.device_id] for s in rows], np.int64)
        self.start = np.array([s.start for s in rows], np.float64)
        self.end = np.array([s.end for s in rows], np.float64)
        self.target = np.array([target_of[s.grid_id] for s in rows], np.int64)
        self.key = self._keys(self.slot, self.start)

    def _keys(self, slot: np.ndarray, t: np.ndarray) -> np.ndarray:
        return slot * SPAN_S + np.clip(t - self.origin, 0.0, SPAN_S - 1.0)

    def holding(self, slot: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Per (slot, time): the row of the shift holding that time, -1 where none does."""
        if len(self.key) == 0:
            return np.full(len(slot), -1, np.int64)
        row = np.searchsorted(self.key, self._keys(slot, t), "right") - 1
        safe = np.clip(row, 0, None)
        held = (row >= 0) & (self.slot[safe] == slot) & (self.start[safe] <= t)
        held &= t < self.end[safe]
        return np.where(held, row, -1)


class WorkerWatch:
    """The rostered devices' live state and their open conditions."""

    def __init__(
        self,
        grid_set: GridSet,
        entries: Sequence[RosterEntry],
        calendar: Calendar,
        rules: WorkerRules,
        tz: ZoneInfo,
        clock: Callable[[], float],
    ) -> None:
        self.grid_set = grid_set
        self.entries = [e for e in entries if e.grid_id in grid_set.by_id]
        self.calendar = calendar
        self.rules = rules
        self.tz = tz
        self.clock = clock
        self.devices = sorted({e.device_id for e in self.entries})
        self.slot_of = {d: i for i, d in enumerate(self.devices)}
        self.targets = sorted({e.grid_id for e in self.entries})
        self.target_of = {g: t for t, g in enumerate(self.targets)}
        self.member = np.zeros((len(self.targets), max(1, len(grid_set.ids))), np.uint8)
        self._zones: dict[str, shapely.Geometry] = {}
        zones = []
        for t, grid_id in enumerate(self.targets):
            self.member[t, grid_set.tree.positions_under[grid_id]] = 1
            zones.append(self.zone(grid_id))
        self.zones = np.array([*zones, None], dtype=object)[:-1]  # geometries, by target
        n = len(self.devices)
        self.st_shift = np.full(n, np.nan)
        self.st_last = np.full(n, -np.inf)
        self.st_arrived = np.full(n, np.inf)
        self.st_out = np.full(n, np.nan)
        self.st_anchor_ts = np.full(n, np.nan)
        self.st_anchor_x = np.zeros(n)
        self.st_anchor_y = np.zeros(n)
        self.st_x = np.zeros(n)
        self.st_y = np.zeros(n)
        self.st_speed = np.full(n, np.nan)
        self.open_at = {kind: np.full(n, np.nan) for kind in WORKER_ENDED_BY}
        self.open_end = {kind: np.full(n, np.inf) for kind in WORKER_ENDED_BY}
        self.open_grid: dict[AlertKind, dict[int, str]] = {kind: {} for kind in WORKER_ENDED_BY}
        self.table = ShiftTable([], self.slot_of, self.target_of, 0.0)
        self._day: dt.date | None = None

    def zone(self, grid_id: str) -> shapely.Geometry:
        """A grid (a parent: its leaves) in plane metres, prepared; made once."""
        zone = self._zones.get(grid_id)
        if zone is None:
            plane = self.grid_set.plane
            leaves = self.grid_set.tree.positions_under[grid_id]
            zone = shapely.union_all([self.grid_set.leaves[k].geometry for k in leaves])
            zone = shapely.transform(zone, lambda c: np.column_stack(plane.to_xy(c[:, 0], c[:, 1])))
            shapely.prepare(zone)
            self._zones[grid_id] = zone
        return zone

    def nearest(self, grid_id: str, now: float, count: int) -> list[Nearby]:
        """The ``count`` workers on shift at ``now`` and not silent nearest to a grid, by the
        straight-line distance from their newest fix of the shift (0 inside), each with an
        estimate of arrival at their recent speed (at least :data:`WALKING_MPS`)."""
        table = self.shifts_near(now)
        n = len(self.devices)
        row = table.holding(np.arange(n), np.full(n, now))
        safe = np.clip(row, 0, None)
        known = (row >= 0) & (now - self.st_last <= self.rules.silent_after_s)
        if len(table.key):
            known &= self.st_shift == table.start[safe]
        slots = np.flatnonzero(known)
        if len(slots) == 0:
            return []
        points = shapely.points(self.st_x[slots], self.st_y[slots])
        distance = shapely.distance(self.zone(grid_id), points)
        speed = np.fmax(np.nan_to_num(self.st_speed[slots]), WALKING_MPS)
        order = np.lexsort((slots, distance))[:count]
        return [
            Nearby(
                table.shifts[row[slots[k]]].worker,
                self.devices[slots[k]],
                float(distance[k]),
                float(distance[k] / speed[k]),
            )
            for k in order.tolist()
        ]

    # --- the shifts ------------------------------------------------------------------

    def shifts_near(self, now: float) -> ShiftTable:
        """The shift table for the local day of ``now`` (made again when the day changes)."""
        day = dt.datetime.fromtimestamp(now, self.tz).date()
        if day != self._day:
            first = day - dt.timedelta(days=1)
            shifts = [
                s
                for k in range(3)
                for s in shifts_on(
                    self.entries, first + dt.timedelta(days=k), self.calendar, self.tz
                )
            ]
            midnight = dt.datetime.combine(first, dt.time(), self.tz).timestamp()
            self.table = ShiftTable(shifts, self.slot_of, self.target_of, midnight)
            self._day = day
        return self.table

    def starts_of_current(self, now: float) -> dict[str, float]:
        """Per device on shift at ``now``: its shift's start (the fixes a rebuild reads)."""
        table = self.shifts_near(now)
        row = table.holding(np.arange(len(self.devices)), np.full(len(self.devices), now))
        return {self.devices[s]: float(table.start[r]) for s, r in enumerate(row) if r >= 0}

    # --- fixes -----------------------------------------------------------------------

    def apply(
        self,
        device_ids: Sequence[str],
        ts: np.ndarray,
        lon: np.ndarray,
        lat: np.ndarray,
        grid: np.ndarray,
        now: float,
    ) -> None:
        """Usable fixes (any order) with their leaf index (-1 outside): each rostered
        device's state moves on. Ends and raises nothing (:meth:`evaluate` does)."""
        slot = np.fromiter((self.slot_of.get(d, -1) for d in device_ids), np.int64, len(ts))
        mine = np.flatnonzero(slot >= 0)
        if len(mine) == 0:
            return
        order = mine[np.lexsort((ts[mine], slot[mine]))]
        slot, ts = slot[order], np.ascontiguousarray(ts[order], np.float64)
        x, y = self.grid_set.plane.to_xy(lon[order], lat[order])
        leaf = grid[order]
        table = self.shifts_near(now)
        row = table.holding(slot, ts)
        held = row >= 0
        target = table.target[np.clip(row, 0, None)] if len(table.key) else np.zeros_like(slot)
        inside = held & (leaf >= 0) & (self.member[target, np.clip(leaf, 0, None)] == 1)
        near = inside.copy()
        check = held & ~inside
        rows = np.flatnonzero(check)
        if len(rows):  # one vectorised call: each point against its own shift's grid
            points = shapely.points(x[rows], y[rows])
            near[rows] = shapely.dwithin(self.zones[target[rows]], points, self.rules.out_buffer_m)
        start = np.where(
            held, table.start[np.clip(row, 0, None)] if len(table.key) else 0.0, np.nan
        )
        advance(
            slot, ts, np.ascontiguousarray(x), np.ascontiguousarray(y), start,
            inside.astype(np.uint8), near.astype(np.uint8), self.rules.stationary_within_m,
            self.st_shift, self.st_last, self.st_arrived, self.st_out,
            self.st_anchor_ts, self.st_anchor_x, self.st_anchor_y,
            self.st_x, self.st_y, self.st_speed,
        )  # fmt: skip

    # --- the conditions --------------------------------------------------------------

    def conditions(self, now: float) -> dict[AlertKind, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per kind and slot: whether it holds at ``now``, since when, and the time of the
        fact that would end it (nan where only the shift's end would)."""
        r = self.rules
        table = self.shifts_near(now)
        n = len(self.devices)
        row = table.holding(np.arange(n), np.full(n, now))
        on = row >= 0
        safe = np.clip(row, 0, None)
        start = np.where(on, table.start[safe], np.nan) if len(table.key) else np.full(n, np.nan)
        same = on & (self.st_shift == start)
        last = np.where(same, self.st_last, -np.inf)
        arrived = np.where(same, self.st_arrived, np.inf)
        out = np.where(same, self.st_out, np.nan)
        anchor = np.where(same, self.st_anchor_ts, np.nan)
        heard = np.maximum(last, start)
        with np.errstate(invalid="ignore"):
            return {
                AlertKind.ABSENT: (
                    on & np.isinf(arrived) & (now - start > r.grace_s),
                    start + r.grace_s,
                    np.where(same & np.isfinite(arrived), arrived, np.nan),
                ),
                AlertKind.SILENT: (
                    on & (now - heard > r.silent_after_s),
                    heard + r.silent_after_s,
                    np.where(same & np.isfinite(last), last, np.nan),
                ),
                AlertKind.OUT_OF_GRID: (
                    on & ~np.isnan(out) & (now - out > r.out_after_s),
                    out + r.out_after_s,
                    np.where(same & np.isfinite(last), last, np.nan),
                ),
                AlertKind.STATIONARY: (
                    on & ~np.isnan(anchor) & (last - anchor >= r.stationary_after_s),
                    anchor + r.stationary_after_s,
                    np.where(same & ~np.isnan(anchor), anchor, np.nan),
                ),
            }

    def evaluate(self, now: float, *, may_raise: bool) -> list[Alert]:
        """End the open conditions no longer true at ``now``; if ``may_raise``, raise the
        new ones."""
        if not self.devices:
            return []
        table = self.shifts_near(now)
        n = len(self.devices)
        row = table.holding(np.arange(n), np.full(n, now))
        alerts = []
        for kind, (holds, since, ended) in self.conditions(now).items():
            opened = ~np.isnan(self.open_at[kind])
            for s in np.flatnonzero(opened & ~holds).tolist():
                if math.isnan(ended[s]):  # the shift is over (or the state knows no fix of it)
                    alerts.append(
                        self._end(kind, s, min(now, self.open_end[kind][s]), "shift over")
                    )
                else:
                    alerts.append(self._end(kind, s, float(ended[s]), ""))
            if may_raise:
                for s in np.flatnonzero(holds & ~opened).tolist():
                    alerts.append(self._raise(kind, s, float(since[s]), table.shifts[row[s]]))
        return alerts

    def _raise(self, kind: AlertKind, s: int, at: float, shift: WorkerShift) -> Alert:
        self.open_at[kind][s] = at
        self.open_end[kind][s] = shift.end
        self.open_grid[kind][s] = shift.grid_id
        r = self.rules
        why = {
            AlertKind.ABSENT: f"not in {shift.grid_id} by shift start + {r.grace_s / 60:g} min",
            AlertKind.SILENT: f"no fix for {r.silent_after_s / 60:g} min on shift",
            AlertKind.OUT_OF_GRID: f"more than {r.out_buffer_m:g} m outside {shift.grid_id} "
            f"for {r.out_after_s / 60:g} min",
            AlertKind.STATIONARY: f"moved less than {r.stationary_within_m:g} m in "
            f"{r.stationary_after_s / 60:g} min",
        }[kind]
        return Alert(kind, at, self.clock(), grid_id=shift.grid_id,
                     device_id=self.devices[s], detail=f"{shift.worker}: {why}")  # fmt: skip

    def _end(self, kind: AlertKind, s: int, at: float, detail: str) -> Alert:
        self.open_at[kind][s] = np.nan
        self.open_end[kind][s] = np.inf
        grid_id = self.open_grid[kind].pop(s, None)
        return Alert(WORKER_ENDED_BY[kind], at, self.clock(), grid_id=grid_id,
                     device_id=self.devices[s], detail=detail)  # fmt: skip

    # --- restart and roster changes --------------------------------------------------

    def open_conditions(self) -> list[OpenCondition]:
        return [
            OpenCondition(kind, self.devices[s], float(at[s]))
            for kind, at in self.open_at.items()
            for s in np.flatnonzero(~np.isnan(at)).tolist()
        ]

    def reopen(self, conditions: Sequence[OpenCondition], now: float) -> list[Alert]:
        """Hold these conditions open (from storage at start, or from the watch a new roster
        replaces); those of a device no longer on the roster end now."""
        table = self.shifts_near(now)
        alerts = []
        for c in conditions:
            s = self.slot_of.get(c.device_id)
            if s is None:
                alerts.append(Alert(WORKER_ENDED_BY[c.kind], now, self.clock(),
                                    device_id=c.device_id, detail="off the roster"))  # fmt: skip
                continue
            self.open_at[c.kind][s] = c.at
            row = table.holding(np.array([s]), np.array([now]))[0]
            if row >= 0:
                self.open_end[c.kind][s] = table.end[row]
                self.open_grid[c.kind][s] = table.shifts[row].grid_id
        return alerts


def warm_up_workers() -> None:
    """Compile the kernel now (on no fixes), not inside the first batch's latency."""
    empty, none = np.zeros(0), np.zeros(0, np.uint8)
    advance(np.zeros(0, np.int64), empty, empty, empty, empty, none, none, 1.0,
            empty, empty, empty, empty, empty, empty, empty, empty, empty, empty)  # fmt: skip
