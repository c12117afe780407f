"""Attendance from storage: the roster's worker-shifts of a window, each computed from the
stored fixes of its day (one code path for ``gridpatrol report attendance``, the API and the
scorecard of a rostered worker)."""

from __future__ import annotations

import datetime as dt

from geofence.attendance import attendance_rows, shift_presence
from geofence.config import GeofenceSettings
from geofence.grids import GridSet
from geofence.rosters import Calendar, RosterEntry, WorkerShift, shifts_on
from patrol.derive import ReportGrids
from patrol.fixes import load_fixes
from patrol.rosters import load_calendar, load_roster
from tracks.store import Store


def window_shifts(
    entries: list[RosterEntry],
    calendar: Calendar,
    grid_set: GridSet,
    start: dt.datetime,
    end: dt.datetime,
    settings: GeofenceSettings,
) -> dict[dt.date, list[WorkerShift]]:
    """The worker-shifts that start in [start, end), by roster day, of grids that exist."""
    tz = settings.tz
    first = start.astimezone(tz).date() - dt.timedelta(days=1)
    last = end.astimezone(tz).date()
    a, b = start.timestamp(), end.timestamp()
    by_day = {}
    day = first
    while day <= last:
        shifts = [
            s
            for s in shifts_on(entries, day, calendar, tz)
            if a <= s.start < b and s.grid_id in grid_set.by_id
        ]
        if shifts:
            by_day[day] = shifts
        day += dt.timedelta(days=1)
    return by_day


def run_attendance(
    grids: ReportGrids,
    store: Store,
    start: dt.datetime,
    end: dt.datetime,
    settings: GeofenceSettings,
    *,
    device_id: str | None = None,
    grid_id: str | None = None,
) -> list[dict[str, object]]:
    """One row per worker-shift starting in [start, end) (geofence.attendance), day by day
    from the stored fixes of that day's shifts; ``device_id`` or ``grid_id`` keep the rows
    of that device or assigned grid."""
    entries = [
        e
        for e in load_roster(store)
        if (device_id is None or e.device_id == device_id)
        and (grid_id is None or e.grid_id == grid_id)
    ]
    if not entries:
        return []
    grid_set = grids.indexed()
    by_day = window_shifts(entries, load_calendar(store), grid_set, start, end, settings)
    rows: list[dict[str, object]] = []
    for shifts in by_day.values():
        rows.extend(day_rows(grid_set, store, shifts, settings))
    return rows


def day_rows(
    grid_set: GridSet, store: Store, shifts: list[WorkerShift], settings: GeofenceSettings
) -> list[dict[str, object]]:
    """The rows of one day's worker-shifts, from the fixes of [first start, last end)."""
    tz = settings.tz
    a = dt.datetime.fromtimestamp(min(s.start for s in shifts), tz)
    b = dt.datetime.fromtimestamp(max(s.end for s in shifts), tz)
    return attendance_rows(grid_set, load_fixes(grid_set, store, a, b), shifts, settings)


def roster_presence(
    grids: ReportGrids, store: Store, day: dt.date, settings: GeofenceSettings
) -> dict[str, float]:
    """Per device with shifts on ``day``: its presence over them (geofence.attendance,
    ``shift_presence``), the scorecard's presence of a rostered worker."""
    entries = load_roster(store)
    if not entries:
        return {}
    grid_set = grids.indexed()
    shifts = [
        s
        for s in shifts_on(entries, day, load_calendar(store), settings.tz)
        if s.grid_id in grid_set.by_id
    ]
    if not shifts:
        return {}
    return shift_presence(day_rows(grid_set, store, shifts, settings))
