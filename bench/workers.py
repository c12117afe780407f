"""The ``workers`` scenario: live worker alerts (geofence/workers.py) per tick, for a district.

The city's 1,652 grids and 2,000 workers on a roster (``--smoke``: the town's 76 grids and
70 workers), each on shift 08:00-18:00 in a leaf of its own (worker k in leaf k mod grids),
reporting every 30 s: most walk a 40 m circle every 10 min around a point of their grid,
one in ten stands still, one in ten stands 300 m east of that point (out of the grid, most
of them), one in twenty has been silent since 08:10. The state is built from
the shift's first half hour (08:00-08:30, one ``apply`` as a restart does), then measured:

* one tick's evaluation of the four conditions for every worker (steady: the conditions
  already raised), beside a plain-Python loop over the workers evaluating the same rules
  from the same state (the reference; both give the same answer, checked);
* one tick's ``apply`` of a fix from every worker at once (the worst tick: serve's ticks
  take 1 s of fixes, 1/30 of that at this rate).
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import shapely

from bench.data import CITY, TOWN, town_grid_file
from bench.result import Result
from geofence.alerts import AlertKind
from geofence.assign import assign
from geofence.grids import GridSet, load_grids
from geofence.rosters import Calendar, RosterEntry
from geofence.workers import WorkerRules, WorkerWatch, warm_up_workers

TZ = ZoneInfo("Asia/Shanghai")
DAY = dt.date(2026, 11, 20)
RULES = WorkerRules(
    out_after_s=600,
    out_buffer_m=50,
    stationary_after_s=1200,
    stationary_within_m=30,
    silent_after_s=900,
    grace_s=300,
)
PERIOD_S = 30.0
GOAL_MS = 10.0


def _python_conditions(watch: WorkerWatch, now: float) -> dict[AlertKind, list[bool]]:
    """The reference: the same rules, one worker at a time in plain Python."""
    r = watch.rules
    table = watch.shifts_near(now)
    shifts: dict[int, tuple[float, float]] = {}
    for s, start, end in zip(
        table.slot.tolist(), table.start.tolist(), table.end.tolist(), strict=True
    ):
        if start <= now < end:
            shifts[s] = (start, end)
    out: dict[AlertKind, list[bool]] = {k: [] for k in (AlertKind.ABSENT, AlertKind.SILENT,
                                                        AlertKind.OUT_OF_GRID, AlertKind.STATIONARY)}  # fmt: skip
    for s in range(len(watch.devices)):
        shift = shifts.get(s)
        if shift is None:
            for flags in out.values():
                flags.append(False)
            continue
        start = shift[0]
        same = watch.st_shift[s] == start
        last = float(watch.st_last[s]) if same else -math.inf
        arrived = float(watch.st_arrived[s]) if same else math.inf
        since_out = float(watch.st_out[s]) if same else math.nan
        anchor = float(watch.st_anchor_ts[s]) if same else math.nan
        out[AlertKind.ABSENT].append(math.isinf(arrived) and now - start > r.grace_s)
        out[AlertKind.SILENT].append(now - max(last, start) > r.silent_after_s)
        out[AlertKind.OUT_OF_GRID].append(
            not math.isnan(since_out) and now - since_out > r.out_after_s
        )
        out[AlertKind.STATIONARY].append(
            not math.isnan(anchor) and last - anchor >= r.stationary_after_s
        )
    return out


def _centres(grid_set: GridSet, workers: int) -> tuple[np.ndarray, np.ndarray]:
    """A point inside each worker's grid, plane metres."""
    leaves = grid_set.leaves
    geoms = np.array([leaves[k % len(leaves)].geometry for k in range(workers)], dtype=object)
    points = shapely.point_on_surface(geoms)
    return grid_set.plane.to_xy(shapely.get_x(points), shapely.get_y(points))


def scenario(workdir: Path, n: int, smoke: bool) -> list[Result]:
    town = TOWN if smoke else CITY
    grid_set = load_grids(town_grid_file(town, workdir))
    workers = town.devices
    entries = [
        RosterEntry(
            k,
            f"worker {k}",
            f"w{k:04d}",
            grid_set.ids[k % len(grid_set.ids)],
            DAY,
            None,
            DAY,
            DAY,
            f"line {k + 2}",
            ((8 * 3600, 18 * 3600),),
        )
        for k in range(workers)
    ]
    watch = WorkerWatch(grid_set, entries, Calendar({}), RULES, TZ, clock=time.time)
    names = [e.device_id for e in entries]
    start = dt.datetime.combine(DAY, dt.time(8), TZ).timestamp()
    rng = np.random.default_rng(1)
    cx, cy = _centres(grid_set, workers)
    kind = np.arange(workers) % 10  # 0: stands still, 1: stands 300 m out, else walks
    phase = rng.uniform(0.0, 2 * math.pi, workers)
    silent = np.arange(workers) % 20 == 19

    def fixes_at(t: float) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        keep = ~silent | (t < start + 600)
        angle = phase + 2 * math.pi * (t - start) / 600.0  # a 40 m circle every 10 min
        walk = np.where(kind >= 2, 40.0, 0.0)
        noise = rng.normal(0.0, 2.0, (2, workers))
        x = cx + walk * np.cos(angle) + np.where(kind == 1, 300.0, 0.0) + noise[0]
        y = cy + walk * np.sin(angle) + noise[1]
        lon, lat = grid_set.plane.to_lonlat(x[keep], y[keep])
        grid = np.asarray(assign(grid_set, lon, lat), np.int32)
        return (
            [d for d, k in zip(names, keep, strict=True) if k],
            np.full(len(lon), t),
            lon,
            lat,
            grid,
        )

    history = [fixes_at(start + k * PERIOD_S) for k in range(60)]
    first_half_hour = (
        [d for h in history for d in h[0]],
        np.concatenate([h[1] for h in history]),
        np.concatenate([h[2] for h in history]),
        np.concatenate([h[3] for h in history]),
        np.concatenate([h[4] for h in history]),
    )
    warm_up_workers()  # the kernel loaded, as serve's warm-up does
    t0 = time.perf_counter()
    watch.apply(*first_half_hour, start + 1800)
    build_s = time.perf_counter() - t0
    rows = len(history) * workers
    now = start + 1800
    raised = watch.evaluate(now, may_raise=True)  # the conditions true at 08:30, raised once
    kinds = {str(k): sum(1 for a in raised if a.kind == k) for k in set(a.kind for a in raised)}

    def best(fn: Callable[[], object], repeat: int = 20) -> float:
        fn()
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return min(times)

    evaluate_s = best(lambda: watch.evaluate(now, may_raise=True))
    python_s = best(lambda: _python_conditions(watch, now), repeat=5)
    vector = {k: v[0].tolist() for k, v in watch.conditions(now).items()}
    same = vector == _python_conditions(watch, now)
    ticks = [(now + k * PERIOD_S, fixes_at(now + k * PERIOD_S)) for k in range(1, 12)]

    def one_tick() -> None:
        t, fixes = ticks.pop(0)
        watch.apply(*fixes, t)

    apply_s = best(one_tick, repeat=10)
    where = f"{len(grid_set.ids)} grids, {workers} workers on shift"
    return [
        Result("workers", f"build the state from 30 min of fixes ({rows:,} fixes; {where})",
               build_s * 1e3, "ms", note="once, at start or on a new roster"),
        Result("workers", f"evaluate the four conditions, one tick ({where})", evaluate_s * 1e3,
               "ms", "plain-Python loop over the workers", python_s * 1e3,
               note=f"goal < {GOAL_MS:g} ms; same answers: {same}; raised at 08:30: {kinds}"),
        Result("workers", f"apply a fix from every worker, one tick ({where})", apply_s * 1e3, "ms",
               note=f"grid assignment of the fixes not included (ingest does it); goal < {GOAL_MS:g} ms with the evaluation"),
    ]  # fmt: skip
