"""Worker alerts (geofence/workers.py) on hand-built tracks, the answers written out.

Grids: three_in_a_row (P over A | B | C; A is x -160..-40, B -40..40, C 40..160, y -60..60 m).
Li Wei (device d1) is rostered on A on Friday 2026-11-20, 08:00-12:00 (Asia/Shanghai).
Settings: out_of_grid after 10 min beyond 50 m, stationary 20 min within 30 m, silent 15 min,
grace 5 min.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from geofence.alerts import Alert, AlertKind
from geofence.assign import assign
from geofence.grids import GridSet, load_grids
from geofence.rosters import Calendar, RosterEntry
from geofence.workers import OpenCondition, WorkerRules, WorkerWatch
from tests.geofence.town import lonlat, three_in_a_row

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


def at(hhmm: str) -> float:
    h, m = (int(p) for p in hhmm.split(":"))
    return dt.datetime.combine(DAY, dt.time(h, m), TZ).timestamp()


def hhmm(t: float) -> str:
    return dt.datetime.fromtimestamp(t, TZ).strftime("%H:%M")


def entry(grid_id: str = "A", device_id: str = "d1", shifts=((8 * 3600, 12 * 3600),)):
    return RosterEntry(0, "Li Wei", device_id, grid_id, DAY, None, DAY, DAY, "line 2", shifts)


@pytest.fixture(scope="module")
def grid_set(tmp_path_factory: pytest.TempPathFactory) -> GridSet:
    return load_grids(three_in_a_row(tmp_path_factory.mktemp("w") / "grids.geojson"))


def watch_of(grid_set: GridSet, *entries: RosterEntry) -> WorkerWatch:
    return WorkerWatch(grid_set, entries, Calendar({}), RULES, TZ, clock=lambda: 0.0)


def feed(watch: WorkerWatch, fixes: dict[float, tuple[float, float]], now: float) -> None:
    times = sorted(t for t in fixes if t <= now)
    if not times:
        return
    lon, lat = np.array([lonlat(*fixes[t]) for t in times]).T
    leaf = np.asarray(assign(watch.grid_set, lon, lat), np.int32)
    watch.apply(["d1"] * len(times), np.array(times), lon, lat, leaf, now)


def run(watch: WorkerWatch, fixes: dict[float, tuple[float, float]], until: str) -> list[Alert]:
    """Every 30 s from 07:50 to ``until``: the fixes up to then, then an evaluation."""
    alerts, sent = [], -np.inf
    now = at("07:50")
    while now <= at(until):
        due = {t: p for t, p in fixes.items() if sent < t <= now}
        feed(watch, due, now)
        sent = now
        alerts += watch.evaluate(now, may_raise=True)
        now += 30
    return alerts


def minutes(first: str, last: str) -> list[float]:
    return list(np.arange(at(first), at(last) + 1, 60.0))


def scripted_day() -> dict[float, tuple[float, float]]:
    """No fix until 08:07; walks in A 4 m a minute until 08:30; 20 m beyond A's edge (within
    the buffer) 08:31-08:33; in C, 140 m beyond, 08:34-08:50; standing in A, 5 m of jitter,
    08:51-09:30; 40 m away at 09:31; silent until one fix at 10:00; silent to the end."""
    fixes = {t: (-150 + 4 * k, 0.0) for k, t in enumerate(minutes("08:07", "08:30"))}
    fixes |= dict.fromkeys(minutes("08:31", "08:33"), (-20.0, 0.0))
    fixes |= dict.fromkeys(minutes("08:34", "08:50"), (100.0, 0.0))
    fixes |= {t: (-100.0, 5.0 * (k % 2)) for k, t in enumerate(minutes("08:51", "09:30"))}
    fixes[at("09:31")] = (-60.0, 0.0)
    fixes[at("10:00")] = (-100.0, 0.0)
    return fixes


def test_a_scripted_shift_raises_and_ends_each_condition_once(grid_set: GridSet):
    alerts = run(watch_of(grid_set, entry()), scripted_day(), until="12:10")
    assert [(str(a.kind), hhmm(a.at), a.detail) for a in alerts] == [
        ("absent", "08:05", "Li Wei: not in A by shift start + 5 min"),
        ("arrived", "08:07", ""),
        ("out_of_grid", "08:44", "Li Wei: more than 50 m outside A for 10 min"),
        ("in_grid", "08:51", ""),
        ("stationary", "09:11", "Li Wei: moved less than 30 m in 20 min"),
        ("moving", "09:31", ""),
        ("silent", "09:46", "Li Wei: no fix for 15 min on shift"),
        ("heard", "10:00", ""),
        ("silent", "10:15", "Li Wei: no fix for 15 min on shift"),
        ("heard", "12:00", "shift over"),
    ]
    assert {(a.device_id, a.grid_id, a.subject) for a in alerts} == {("d1", "A", "d1")}


def test_the_buffer_and_a_parent_grid(grid_set: GridSet):
    """Walking to and fro in A until 08:44; 30 m beyond A's edge for 15 min is within the 50 m buffer: no alert; 70 m beyond for
    11 min is out from the first fix there, 09:00 + 10 min. Rostered on the parent P, the
    same walk (all in B, inside P) is never out."""
    fixes = {t: (-150.0 + 35 * (k % 4), 0.0) for k, t in enumerate(minutes("08:00", "08:44"))}
    fixes |= {t: (-10.0, 2.0 * k) for k, t in enumerate(minutes("08:45", "08:59"))}
    fixes |= {t: (30.0, 2.0 * k) for k, t in enumerate(minutes("09:00", "09:10"))}
    fixes |= {t: (-100.0, 2.0 * k) for k, t in enumerate(minutes("09:11", "09:20"))}
    alerts = run(watch_of(grid_set, entry()), fixes, until="09:20")
    assert [(str(a.kind), hhmm(a.at)) for a in alerts] == [
        ("out_of_grid", "09:10"),
        ("in_grid", "09:11"),
    ]
    assert run(watch_of(grid_set, entry("P")), fixes, until="09:20") == []


def test_two_shifts_each_judged_alone(grid_set: GridSet):
    """Shifts 08:00-09:00 and 10:00-11:00, one fix in A at 08:01 and none after: silent from
    08:16 to the first shift's end; the second shift is absent from 10:05 and silent from
    10:15, both ended at 11:00; nothing between the shifts."""
    two = entry(shifts=((8 * 3600, 9 * 3600), (10 * 3600, 11 * 3600)))
    alerts = run(watch_of(grid_set, two), {at("08:01"): (-100.0, 0.0)}, until="11:30")
    assert [(str(a.kind), hhmm(a.at)) for a in alerts] == [
        ("silent", "08:16"),
        ("heard", "09:00"),
        ("absent", "10:05"),
        ("silent", "10:15"),
        ("arrived", "11:00"),
        ("heard", "11:00"),
    ]


def test_a_late_fix_counts_only_for_arrival(grid_set: GridSet):
    """Out of A (in C) from 08:00; a fix in A dated 08:02 arrives at 08:20, after the 08:19
    one: the worker arrived at 08:02 (absent is not raised), but stays out of the grid
    from 08:00 (out_of_grid at 08:10 stands)."""
    watch = watch_of(grid_set, entry())
    fixes = dict.fromkeys(minutes("08:00", "08:19"), (100.0, 0.0))
    raised = run(watch, fixes, until="08:19")
    feed(watch, {at("08:02"): (-100.0, 0.0)}, at("08:20"))
    raised += watch.evaluate(at("08:20"), may_raise=True)
    assert [(str(a.kind), hhmm(a.at)) for a in raised] == [
        ("absent", "08:05"),
        ("out_of_grid", "08:10"),
        ("arrived", "08:02"),
    ]


def test_open_conditions_survive_a_new_watch_and_a_device_off_the_roster_ends(
    grid_set: GridSet,
):
    """A watch made again (a restart, or a new roster) holding the open conditions raises
    none of them again and ends each when it stops being true; a condition of a device the
    new roster lacks ends at once."""
    first = watch_of(grid_set, entry())
    raised = first.evaluate(at("08:06"), may_raise=True)
    assert [(str(a.kind), hhmm(a.at)) for a in raised] == [("absent", "08:05")]
    held = first.open_conditions()
    assert held == [OpenCondition(AlertKind.ABSENT, "d1", at("08:05"))]
    again = watch_of(grid_set, entry())
    assert again.reopen(held, at("08:06")) == []
    assert again.evaluate(at("08:07"), may_raise=True) == []
    feed(again, {at("08:08"): (-100.0, 0.0)}, at("08:08"))
    ended = again.evaluate(at("08:08"), may_raise=True)
    assert [(str(a.kind), hhmm(a.at), a.grid_id) for a in ended] == [("arrived", "08:08", "A")]
    other = watch_of(grid_set, entry(device_id="d2"))
    gone = other.reopen(held, at("08:06"))
    assert [(str(a.kind), a.device_id, a.detail) for a in gone] == [
        ("arrived", "d1", "off the roster")
    ]
