"""The live worker alerts' inputs from storage: the roster and calendar, the fixes of the
shifts running now, and the conditions the stored alerts left open (geofence/workers.py
judges; this module only reads)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl

from geofence.alerts import WORKER_ENDED_BY, Alert, AlertKind
from geofence.config import GeofenceSettings
from geofence.fixes import fixes_from_frame
from geofence.grids import GridSet
from geofence.rosters import Calendar, RosterEntry
from geofence.workers import OpenCondition, WorkerRules, WorkerWatch
from patrol.config import LiveSettings
from patrol.rosters import load_calendar, load_roster
from tracks.queries import read_fixes, read_open_alerts
from tracks.store import Store


def worker_rules(live: LiveSettings, settings: GeofenceSettings) -> WorkerRules:
    return WorkerRules(
        out_after_s=live.out_of_grid_after_s,
        out_buffer_m=live.out_of_grid_buffer_m,
        stationary_after_s=live.stationary_after_s,
        stationary_within_m=live.stationary_within_m,
        silent_after_s=live.silent_after_s,
        grace_s=settings.grace_s,
    )


@dataclass(frozen=True)
class Roster:
    """The roster and calendar as stored: equal when neither changed."""

    entries: tuple[RosterEntry, ...]
    calendar: Calendar


def read_live_roster(store: Store) -> Roster:
    return Roster(tuple(load_roster(store)), load_calendar(store))


def load_watch(
    grid_set: GridSet,
    settings: GeofenceSettings,
    live: LiveSettings,
    store: Store,
    roster: Roster,
    now: float,
    *,
    clock: Callable[[], float],
    open_conditions: Sequence[OpenCondition] | None = None,
    with_fixes: bool = True,
) -> tuple[WorkerWatch, list[Alert]]:
    """The watch of ``roster`` at ``now``: each device on shift brought up to date with its
    stored fixes since its shift's start, and the open conditions held (``open_conditions``,
    or else those the stored alerts left open). Returns it with the alerts that end the
    conditions of devices no longer on the roster. Without ``with_fixes`` (a process that
    only shows the state, ``serve --role api``) no fix is read."""
    watch = WorkerWatch(
        grid_set, roster.entries, roster.calendar, worker_rules(live, settings), settings.tz, clock
    )
    starts = watch.starts_of_current(now) if with_fixes else {}
    if starts:
        since = dt.datetime.fromtimestamp(min(starts.values()), dt.UTC)
        frame = read_fixes(store, since, dt.datetime.fromtimestamp(now + 86_400, dt.UTC))
        frame = frame.filter(pl.col("device_id").is_in(list(starts)))
        if frame.height:
            fixes = fixes_from_frame(grid_set, frame)
            names = [fixes.devices[d] for d in fixes.device.tolist()]
            watch.apply(names, fixes.ts, fixes.lon, fixes.lat, fixes.grid, now)
    if open_conditions is None:
        stored = read_open_alerts(store, {str(k): str(v) for k, v in WORKER_ENDED_BY.items()})
        open_conditions = [OpenCondition(AlertKind(k), d, at) for k, d, at in stored]
    return watch, watch.reopen(open_conditions, now)
