"""The ``due-soon`` scenario: how well the prompt before lateness (due_soon) works on a
simulated day.

The town (76 grids, interval 30 min, always in service) and its 70 devices, each on the
roster for its own grid 08:00-20:00 and riding a loop of it (bench.data.patrol_day: a fix
every 5 s, a loop about every 30 min), except for one break each: a stretch of 20 to 45 min
(seeded, starting between 09:00 and 18:00) without fixes, in which nobody else comes to the
grid. The day is played through the live state on the event clock, 30 s of fixes at a time,
each followed by an evaluation (a tick). The 6 grids no device rides are never visited.

Measured: the share of ``overdue`` alerts that a ``due_soon`` of the same grid preceded,
and the lead it gave (overdue time - due_soon time); the share of ``due_soon`` ended by a
visit before the grid fell overdue. The simulated workers do not answer prompts: a visit
after a due_soon is the break ending, so the second figure shows what the prompt names, not
what it changes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from bench.data import TOWN, patrol_day, town_grid_file
from bench.result import Result
from geofence.alerts import Alert, AlertKind
from geofence.assign import assign
from geofence.config import GeofenceSettings
from geofence.grids import load_grids
from geofence.rosters import Calendar, RosterEntry
from geofence.workers import WorkerWatch
from patrol.config import LiveSettings
from patrol.live import LiveState
from patrol.workers import worker_rules

TZ = ZoneInfo("Asia/Shanghai")
DAY = dt.date(2026, 11, 20)
TICK_S = 30.0


def scenario(workdir: Path, n: int, smoke: bool) -> list[Result]:
    town = dataclasses.replace(TOWN, hours=3.0) if smoke else TOWN
    grid_set = load_grids(town_grid_file(TOWN, workdir))
    start = dt.datetime.combine(DAY, dt.time(8), TZ).timestamp()
    pings = patrol_day(grid_set, town, start)
    rng = np.random.default_rng(3)
    span_h = town.hours - 2.0
    breaks = pl.DataFrame(
        {
            "device_id": [f"dev-{d:04d}" for d in range(town.devices)],
            "b0": start + 3600 + rng.uniform(0, span_h * 3600, town.devices),
            "b1": rng.uniform(20 * 60, 45 * 60, town.devices),
        }
    ).with_columns(b1=pl.col("b0") + pl.col("b1"))
    pings = (
        pings.join(breaks, on="device_id")
        .filter((pl.col("t") < pl.col("b0")) | (pl.col("t") >= pl.col("b1")))
        .sort("t")
    )
    lon, lat = pings["lon"].to_numpy(), pings["lat"].to_numpy()
    leaf = np.asarray(assign(grid_set, lon, lat), np.int32)
    ts, names = pings["t"].to_numpy(), pings["device_id"].to_list()
    end_s = 20 * 3600
    roster = [
        RosterEntry(d, f"worker {d}", f"dev-{d:04d}", grid_set.ids[d % len(grid_set.ids)], DAY,
                    None, DAY, DAY, "", ((8 * 3600, end_s),))
        for d in range(town.devices)
    ]  # fmt: skip
    settings = GeofenceSettings()
    live = LiveSettings(live_clock="event", offline_after_s=1e9)
    state = LiveState(grid_set, settings, live, clock=time.time)
    rules = worker_rules(live, settings)
    state.watch_workers(WorkerWatch(grid_set, roster, Calendar({}), rules, TZ, time.time))
    alerts: list[Alert] = []
    bounds = np.searchsorted(ts, np.arange(start, ts[-1] + TICK_S, TICK_S))
    began = time.perf_counter()
    for a, b in itertools.pairwise(bounds.tolist()):
        if b > a:
            alerts += state.apply_fixes(names[a:b], ts[a:b], lon[a:b], lat[a:b], leaf[a:b])
        alerts += state.evaluate()
    played_s = time.perf_counter() - began
    due = {}  # grid -> its open due_soon's time
    leads, preceded, overdue, visited, prompts = [], 0, 0, 0, 0
    for alert in alerts:
        if alert.kind == AlertKind.DUE_SOON:
            prompts += 1
            due[alert.grid_id] = alert.at
        elif alert.kind == AlertKind.DUE_SOON_ENDED:
            visited += alert.detail == "visited"
        elif alert.kind == AlertKind.OVERDUE:
            overdue += 1
            if alert.grid_id in due:
                preceded += 1
                leads.append(alert.at - due[alert.grid_id])
        if alert.kind == AlertKind.DUE_SOON_ENDED:
            due.pop(alert.grid_id, None)
    share = 100.0 * preceded / overdue if overdue else float("nan")
    where = f"{len(grid_set.ids)} grids, {town.devices} workers, {town.hours:g} h, ticks of 30 s"
    lead_note = (
        f"lead min {min(leads) / 60:.1f} min, mean {np.mean(leads) / 60:.1f} min"
        if leads
        else "no lead"
    )
    return [
        Result("due-soon", f"overdue alerts a due_soon preceded ({where})", share, "%",
               note=f"{preceded} of {overdue}; {lead_note}"),
        Result("due-soon", f"due_soon ended by a visit before overdue ({where})",
               100.0 * visited / prompts if prompts else float("nan"), "%",
               note=f"{visited} of {prompts} prompts; simulated workers do not answer prompts"),
        Result("due-soon", f"play the day through the live state ({len(ts):,} fixes; {where})",
               played_s, "s", note="apply + evaluate, worker alerts and due_soon included"),
    ]  # fmt: skip
