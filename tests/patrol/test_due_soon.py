"""due_soon (prompts before lateness, 预警) in the live state, on a scripted clock.

Grids: three_in_a_row (A x -160..-40, B -40..40, C 40..160, y -60..60 m), intervals 30 min,
no service hours; due_soon 5 min before. Li Wei (d1) on A and Wang Fang (d2) on C, 08:00-12:00
on 2026-11-20; watching starts at 08:00 (no grid visited before).

d1 reports each minute from 08:00: in A, to and fro between x = -100 and -110, until 08:26;
in B at x = 0 from 08:27. d2 reports each minute at x = 140 (in C) until 08:12, then nothing:
silent from 08:27 on, so no longer named.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from geofence.alerts import Alert
from geofence.assign import assign
from geofence.config import GeofenceSettings
from geofence.grids import load_grids
from geofence.rosters import Calendar, RosterEntry
from geofence.workers import WorkerWatch
from patrol.config import LiveSettings
from patrol.live import LiveState
from patrol.workers import worker_rules
from tests.geofence.town import lonlat, three_in_a_row

TZ = ZoneInfo("Asia/Shanghai")
DAY = dt.date(2026, 11, 20)
GRID_KINDS = ("due_soon", "due_soon_ended", "overdue", "cleared")


def at(hhmm: str) -> float:
    h, m = (int(p) for p in hhmm.split(":"))
    return dt.datetime.combine(DAY, dt.time(h, m), TZ).timestamp()


def hhmm(t: float) -> str:
    return dt.datetime.fromtimestamp(t, TZ).strftime("%H:%M")


def entry(k: int, worker: str, device: str, grid: str) -> RosterEntry:
    return RosterEntry(k, worker, device, grid, DAY, None, DAY, DAY, "", ((8 * 3600, 12 * 3600),))


def fixes_at(t: float) -> list[tuple[str, float, float]]:
    k = round((t - at("08:00")) / 60)
    d1 = ("d1", -100.0 - 10 * (k % 2), 0.0) if t < at("08:27") else ("d1", 0.0, 0.0)
    return [d1, ("d2", 140.0, 0.0)] if t <= at("08:12") else [d1]


def test_due_soon_names_the_nearest_workers_and_ends_by_a_visit_or_overdue(tmp_path: Path):
    grid_set = load_grids(three_in_a_row(tmp_path / "grids.geojson", interval_min=30))
    settings, live = GeofenceSettings(), LiveSettings()
    clock = [at("08:00")]
    state = LiveState(grid_set, settings, live, clock=lambda: clock[0])
    roster = [entry(0, "Li Wei", "d1", "A"), entry(1, "Wang Fang", "d2", "C")]
    state.watch_workers(
        WorkerWatch(grid_set, roster, Calendar({}), worker_rules(live, settings), TZ, state.clock)
    )
    alerts: list[Alert] = []
    for step in range(91):  # every 30 s, 08:00 to 08:45
        now = clock[0] = at("08:00") + 30 * step
        if step % 2 == 0:
            fixes = fixes_at(now)
            points = [lonlat(x, y) for _, x, y in fixes]
            lon, lat = np.array([p[0] for p in points]), np.array([p[1] for p in points])
            leaf = np.asarray(assign(grid_set, lon, lat), np.int32)
            alerts += state.apply_fixes(
                [d for d, _, _ in fixes], np.full(len(fixes), now), lon, lat, leaf
            )
        alerts += state.evaluate(now=now)
    grid_alerts = [
        (str(a.kind), a.grid_id, hhmm(a.at), a.device_id, a.detail)
        for a in alerts
        if a.kind in GRID_KINDS
    ]
    assert grid_alerts == [
        ("due_soon", "B", "08:25", "d1",
         "due in 5 min; nearest: Li Wei (d1) 70 m, ETA 1 min; Wang Fang (d2) 100 m, ETA 2 min"),
        ("due_soon_ended", "B", "08:27", "d1", "visited"),
        ("due_soon", "C", "08:37", "d1", "due in 5 min; nearest: Li Wei (d1) 40 m, ETA 1 min"),
        ("overdue", "C", "08:42", None, "no visit for 30 min"),
        ("due_soon_ended", "C", "08:42", "d1", "overdue"),
    ]  # fmt: skip
    assert dict(state.snapshot().due_soon) == {}
