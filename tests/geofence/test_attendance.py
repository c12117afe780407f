"""Attendance on hand-built tracks, answers written out (docs/rules.md, "Attendance").

Grids: tests/geofence/town.py's three_in_a_row (A x -160..-40, B -40..40, C 40..160, y
-60..60 m, parent P). Workers stand at (-100, 0) in A or (100, 0) in C, 200 m apart; a fix a
minute unless said. Rules: a fix stands for [t, min(next fix, t + 120 s, shift end)), grace
300 s, Asia/Shanghai.
"""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geofence.attendance import attendance_rows, shift_presence
from geofence.config import GeofenceSettings
from geofence.fixes import make_fixes
from geofence.grids import GridSet, load_grids
from geofence.rosters import (
    Calendar,
    RosterEntry,
    WorkerShift,
    device_shifts,
    on_duty,
    shifts_on,
)
from tests.geofence.town import lonlat, three_in_a_row

TZ = ZoneInfo("Asia/Shanghai")
SETTINGS = GeofenceSettings()
DAY = dt.date(2026, 11, 20)
IN_A, IN_C = -100.0, 100.0


def at(hour: int, minute: int = 0, day: dt.date = DAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), TZ) + dt.timedelta(hours=hour, minutes=minute)


def iso(hour: int, minute: int = 0, day: dt.date = DAY) -> str:
    return at(hour, minute, day).isoformat()


def every_minute(first: dt.datetime, last: dt.datetime, x: float) -> list[tuple[float, float]]:
    """Fixes at first, first + 1 min, ..., last (inclusive), standing at x."""
    n = int((last - first).total_seconds() // 60) + 1
    return [(first.timestamp() + 60 * k, x) for k in range(n)]


@pytest.fixture(scope="module")
def grid_set(tmp_path_factory) -> GridSet:
    return load_grids(three_in_a_row(tmp_path_factory.mktemp("g") / "grids.geojson"))


def rows_of(
    grid_set: GridSet, track: dict[str, list[tuple[float, float]]], shifts: list[WorkerShift]
) -> list[dict[str, object]]:
    devices = [d for d, fixes in track.items() for _ in fixes]
    ts = np.array([t for fixes in track.values() for t, _ in fixes])
    points = [lonlat(x, 0.0) for fixes in track.values() for _, x in fixes]
    lon = np.array([p[0] for p in points])
    lat = np.array([p[1] for p in points])
    return attendance_rows(grid_set, make_fixes(grid_set, devices, ts, lon, lat), shifts, SETTINGS)


def shift(device: str, grid: str, a: dt.datetime, b: dt.datetime, worker: str = "李伟"):
    return WorkerShift(a.date(), worker, device, grid, a.timestamp(), b.timestamp())


def test_late_by_seven_minutes(grid_set):
    """Shift 08:00-12:00 in A; fixes in A from 08:07 to 11:59. Arrival 08:07 is after
    08:00 + 5 min: late by 420 s. Departure 11:59 is not before 11:55: not early. Inside:
    233 fixes x 60 s = 13,980 s (the last one's 120 s clipped at 12:00); silent 08:00-08:07.
    presence 13,980 / 14,400 = 0.970833."""
    [row] = rows_of(
        grid_set,
        {"d1": every_minute(at(8, 7), at(11, 59), IN_A)},
        [shift("d1", "A", at(8), at(12))],
    )
    assert row == {
        "date": "2026-11-20",
        "worker": "李伟",
        "device_id": "d1",
        "grid_id": "A",
        "shift_start": iso(8),
        "shift_end": iso(12),
        "arrival": iso(8, 7),
        "late": True,
        "late_s": 420.0,
        "departure": iso(11, 59),
        "left_early": False,
        "early_s": 0.0,
        "absent": False,
        "shift_s": 14400.0,
        "inside_s": 13980.0,
        "out_s": 0.0,
        "silent_s": 420.0,
        "presence": 0.970833,
        "fix_presence": 1.0,
        "mileage_m": 0.0,
        "out_periods": [],
        "silent_periods": [[iso(8), iso(8, 7)]],
    }


def test_arrival_within_grace_is_not_late(grid_set):
    [row] = rows_of(
        grid_set,
        {"d1": every_minute(at(8, 5), at(11, 59), IN_A)},
        [shift("d1", "A", at(8), at(12))],
    )
    assert (row["arrival"], row["late"], row["late_s"]) == (iso(8, 5), False, 0.0)


def test_leaves_the_grid_for_25_minutes(grid_set):
    """In A 08:00-09:59, in C 10:00-10:24 (25 fixes), in A 10:25-11:59. Out of A: the 25
    fixes in C, 60 s each: [10:00, 10:25), 1,500 s; inside 12,900 s: presence 0.895833;
    fix_presence the same (no silence). Mileage: two 200 m segments (09:59 -> 10:00,
    10:24 -> 10:25); standing still adds nothing: 400 m. Assigned to the parent P, C is
    one of its leaves: presence 1.0."""
    track = {
        "d1": every_minute(at(8), at(9, 59), IN_A)
        + every_minute(at(10), at(10, 24), IN_C)
        + every_minute(at(10, 25), at(11, 59), IN_A)
    }
    [row, parent] = rows_of(
        grid_set, track, [shift("d1", "A", at(8), at(12)), shift("d1", "P", at(8), at(12))]
    )
    assert row["out_periods"] == [[iso(10), iso(10, 25)]]
    assert row["silent_periods"] == []
    assert (row["out_s"], row["inside_s"], row["silent_s"]) == (1500.0, 12900.0, 0.0)
    assert (row["presence"], row["fix_presence"]) == (0.895833, 0.895833)
    assert (row["late"], row["left_early"], row["absent"]) == (False, False, False)
    assert row["mileage_m"] == 400.0
    assert (parent["presence"], parent["out_periods"]) == (1.0, [])


def test_silent_for_two_hours(grid_set):
    """Shift 08:00-16:00 in A; fixes 08:00-09:58 and 12:00-15:59, all in A. The 09:58 fix
    stands for 120 s, to 10:00; nothing then until 12:00: silent [10:00, 12:00), 7,200 s.
    Inside 118 x 60 + 120 + 239 x 60 + 60 = 21,600 s: presence 0.75 (silence counts as
    absent), fix_presence 1.0 (today's rule, where the silence would not count)."""
    track = {"d1": every_minute(at(8), at(9, 58), IN_A) + every_minute(at(12), at(15, 59), IN_A)}
    [row] = rows_of(grid_set, track, [shift("d1", "A", at(8), at(16))])
    assert row["silent_periods"] == [[iso(10), iso(12)]]
    assert (row["inside_s"], row["silent_s"], row["out_s"]) == (21600.0, 7200.0, 0.0)
    assert (row["presence"], row["fix_presence"]) == (0.75, 1.0)
    assert (row["late"], row["left_early"]) == (False, False)


def test_two_shifts_with_a_lunch_break(grid_set):
    """Roster 08:00-12:00,14:00-18:00 in A. In A 08:00-11:59, lunch in C 12:00-13:59 (in no
    shift: counted nowhere), in A 14:00-17:29, then nothing. Morning: presence 1.0 (the
    11:59 fix's time clipped at 12:00). Afternoon: departure 17:29 is before 17:55: left
    early by 1,860 s; inside 209 x 60 + 120 = 12,660 s, silent [17:31, 18:00) 1,740 s,
    presence 0.879167. The day's presence over both shifts: 27,060 / 28,800 = 0.939583."""
    entry = RosterEntry(
        0, "李伟", "d1", "A", DAY, None, DAY, DAY, "line 2", ((28800, 43200), (50400, 64800))
    )
    shifts = shifts_on([entry], DAY, Calendar({}), TZ)
    track = {
        "d1": every_minute(at(8), at(11, 59), IN_A)
        + every_minute(at(12), at(13, 59), IN_C)
        + every_minute(at(14), at(17, 29), IN_A)
    }
    morning, afternoon = rows_of(grid_set, track, shifts)
    assert (morning["shift_start"], morning["shift_end"]) == (iso(8), iso(12))
    assert (morning["presence"], morning["out_s"], morning["silent_s"]) == (1.0, 0.0, 0.0)
    assert (afternoon["arrival"], afternoon["departure"]) == (iso(14), iso(17, 29))
    assert (afternoon["left_early"], afternoon["early_s"]) == (True, 1860.0)
    assert (afternoon["inside_s"], afternoon["silent_s"]) == (12660.0, 1740.0)
    assert afternoon["silent_periods"] == [[iso(17, 31), iso(18)]]
    assert afternoon["presence"] == 0.879167
    assert shift_presence([morning, afternoon]) == {"d1": 0.939583}


def test_an_overnight_shift_across_a_holiday_to_workday_change(grid_set):
    """Calendar: Wednesday 10-07 a holiday, Thursday 10-08 a working day. 王芳 works the
    nights of rest days (restdays, 22:00-06:00), 李伟 those of working days (workdays). On
    the 7th only 王芳's night starts (22:00 on the 7th to 06:00 on the 8th, a working day:
    the shift belongs to the day it starts on); on the 8th only 李伟's. 王芳 is in A from
    22:03 to 05:59: not late (3 min), inside 477 x 60 = 28,620 s of 28,800: 0.99375."""
    holiday, workday = dt.date(2026, 10, 7), dt.date(2026, 10, 8)
    calendar = Calendar({holiday: "holiday", workday: "workday"})
    first, last = dt.date(2026, 10, 1), dt.date(2026, 10, 31)
    night = ((79200, 108000),)
    entries = [
        RosterEntry(0, "王芳", "d2", "A", None, "restdays", first, last, "line 2", night),
        RosterEntry(1, "李伟", "d1", "A", None, "workdays", first, last, "line 3", night),
    ]
    [on_holiday] = shifts_on(entries, holiday, calendar, TZ)
    [on_workday] = shifts_on(entries, workday, calendar, TZ)
    assert (on_holiday.worker, on_workday.worker) == ("王芳", "李伟")
    assert on_holiday.end == at(6, day=workday).timestamp()
    track = {"d2": every_minute(at(22, 3, holiday), at(5, 59, workday), IN_A)}
    [row] = rows_of(grid_set, track, [on_holiday])
    assert row["date"] == "2026-10-07"
    assert (row["shift_start"], row["shift_end"]) == (iso(22, day=holiday), iso(6, day=workday))
    assert (row["arrival"], row["late"]) == (iso(22, 3, holiday), False)
    assert (row["inside_s"], row["presence"]) == (28620.0, 0.99375)


def test_a_roster_changing_mid_week(grid_set):
    """李伟 has A Monday to Wednesday and C from Thursday (two weekly rows); he patrols A
    08:00-09:59 every day. Wednesday 10-14: presence 1.0 in A. Thursday 10-15: assigned C,
    never there: absent, all 7,200 s out of the grid, presence 0."""
    shifts_ = ((28800, 36000),)
    entries = [
        RosterEntry(0, "李伟", "d1", "A", None, "1,2,3", dt.date(2026, 10, 12),
                    dt.date(2026, 10, 14), "line 2", shifts_),
        RosterEntry(1, "李伟", "d1", "C", None, "4,5", dt.date(2026, 10, 15),
                    dt.date(2026, 10, 18), "line 3", shifts_),
    ]  # fmt: skip
    wednesday, thursday = dt.date(2026, 10, 14), dt.date(2026, 10, 15)
    shifts = [*shifts_on(entries, wednesday, Calendar({}), TZ)]
    shifts += shifts_on(entries, thursday, Calendar({}), TZ)
    track = {
        "d1": every_minute(at(8, day=wednesday), at(9, 59, wednesday), IN_A)
        + every_minute(at(8, day=thursday), at(9, 59, thursday), IN_A)
    }
    wed, thu = rows_of(grid_set, track, shifts)
    assert (wed["grid_id"], wed["presence"], wed["absent"]) == ("A", 1.0, False)
    assert (thu["grid_id"], thu["presence"], thu["absent"]) == ("C", 0.0, True)
    assert (thu["arrival"], thu["late"], thu["left_early"]) == (None, False, False)
    assert thu["out_periods"] == [[iso(8, day=thursday), iso(10, day=thursday)]]
    assert (thu["out_s"], thu["fix_presence"]) == (7200.0, 0.0)


def test_no_fix_at_all_is_absent_and_silent(grid_set):
    [row] = rows_of(grid_set, {"d9": [(at(7).timestamp(), IN_A)]}, [shift("d1", "A", at(8), at(9))])
    assert (row["absent"], row["presence"], row["fix_presence"]) == (True, 0.0, None)
    assert row["silent_periods"] == [[iso(8), iso(9)]] and row["silent_s"] == 3600.0


STAND = {"A": -100.0, "B": 0.0, "C": 100.0}


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(st.integers(0, 1500), st.sampled_from(["A", "B", "C"])),
        max_size=40,
        unique_by=lambda f: f[0],
    ),
    st.integers(100, 400),
    st.integers(1, 900),
    st.sampled_from(["A", "B", "P"]),
)
def test_the_kernel_agrees_with_a_second_by_second_oracle(grid_set, fixes, s, length, grid):
    """Whole-second fixes around a shift [s, s + length) (seconds after 08:00): each second
    of the shift is marked by the fix standing for it (inside, out) or left silent, and the
    runs of marks are the periods."""
    base = at(8).timestamp()
    fixes = sorted(fixes)
    e = s + length
    track = {"d1": [(base + t, STAND[g]) for t, g in fixes]} if fixes else {"d0": [(base, 0.0)]}
    [row] = rows_of(
        grid_set,
        track,
        [shift("d1", grid, at(8) + dt.timedelta(seconds=s), at(8) + dt.timedelta(seconds=e))],
    )
    wanted = {"A": {"A"}, "B": {"B"}, "P": {"A", "B", "C"}}[grid]
    inner = [(t, g) for t, g in fixes if s <= t < e]
    mark = ["silent"] * length
    for i, (t, g) in enumerate(inner):
        stop = min(t + 120, e, inner[i + 1][0] if i + 1 < len(inner) else e)
        for second in range(t, stop):
            mark[second - s] = "inside" if g in wanted else "out"
    assert row["inside_s"] == mark.count("inside")
    assert row["out_s"] == mark.count("out")
    assert row["silent_s"] == mark.count("silent")
    runs: dict[str, list[list[str]]] = {"out": [], "silent": []}
    k = 0
    while k < length:
        j = k
        while j < length and mark[j] == mark[k]:
            j += 1
        if mark[k] != "inside":
            runs[mark[k]].append([iso_s(base + s + k), iso_s(base + s + j)])
        k = j
    assert row["out_periods"] == runs["out"]
    assert row["silent_periods"] == runs["silent"]
    inside = [t for t, g in inner if g in wanted]
    assert row["absent"] == (not inside)
    if inside:
        assert row["late"] == (inside[0] > s + 300)
        assert row["left_early"] == (inside[-1] < e - 300)
    metres = sum(
        abs(STAND[b[1]] - STAND[a[1]])
        for a, b in itertools.pairwise(inner)
        if 0 < b[0] - a[0] <= 120
    )
    assert row["mileage_m"] == pytest.approx(metres, abs=0.2)


def iso_s(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, TZ).isoformat()


def test_on_duty_across_an_overnight_shift():
    """d1 works 22:00-06:00 from Friday 2026-10-09 (a working day); the shift starting on
    Thursday the 8th (a holiday in this calendar) is not worked. On duty: Friday 22:00 up to
    Saturday 06:00 (exclusive). d9 is on no roster: None, it knows no duty."""
    tz = ZoneInfo("Asia/Shanghai")
    calendar = Calendar({dt.date(2026, 10, 8): "holiday"})
    entry = RosterEntry(
        0,
        "李伟",
        "d1",
        "A",
        None,
        "workdays",
        dt.date(2026, 10, 1),
        dt.date(2026, 10, 31),
        "line 2",
        ((22 * 3600, 30 * 3600),),
    )

    def at(day: int, hour: float) -> float:
        return dt.datetime(2026, 10, day, tzinfo=tz).timestamp() + hour * 3600

    times = np.array([at(8, 23), at(9, 5), at(9, 21.99), at(9, 22), at(10, 5.99), at(10, 6)])
    shifts = device_shifts([entry], "d1", times[0], times[-1] + 1, calendar, tz)
    assert shifts is not None
    assert shifts.tolist() == [[at(9, 22), at(10, 6)]]
    assert on_duty(times, shifts).tolist() == [False, False, False, True, True, False]
    assert device_shifts([entry], "d9", times[0], times[-1], calendar, tz) is None
