"""Attendance (考勤) per worker-shift: arrival, lateness, leaving early, absence, time out of
the grid and silent, presence against the shift, and mileage. docs/rules.md, "Attendance",
defines each figure; the kernel is geofence/_attendance.py.

Pure: the shifts come from the roster (geofence.rosters), the fixes from storage
(patrol.attendance loads them).
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from geofence.config import GeofenceSettings
from geofence.fixes import Fixes
from geofence.grids import GridSet
from geofence.presence import to_us
from geofence.rosters import WorkerShift

#: Period kinds of the kernel (geofence/_attendance.py).
OUT, SILENT = 1, 2


def attendance_rows(
    grid_set: GridSet, fixes: Fixes, shifts: list[WorkerShift], settings: GeofenceSettings
) -> list[dict[str, object]]:
    """One row per worker-shift, in the order of ``shifts``, from the usable ``fixes`` (which
    must hold every fix of each shift's device in [start, end))."""
    if not shifts:
        return []
    ts = to_us(fixes.ts)
    x, y = grid_set.plane.to_xy(fixes.lon, fixes.lat)
    bounds = np.searchsorted(fixes.device, np.arange(len(fixes.devices) + 1))
    device_of = {name: d for d, name in enumerate(fixes.devices)}
    targets = sorted({s.grid_id for s in shifts})
    member = np.zeros((len(targets), max(1, len(grid_set.ids))), dtype=np.uint8)
    for t, grid_id in enumerate(targets):
        member[t, grid_set.tree.positions_under[grid_id]] = 1
    target_of = {g: t for t, g in enumerate(targets)}
    n = len(shifts)
    start = to_us(np.array([s.start for s in shifts]))
    end = to_us(np.array([s.end for s in shifts]))
    lo = np.zeros(n, np.int64)
    hi = np.zeros(n, np.int64)
    for k, shift in enumerate(shifts):
        d = device_of.get(shift.device_id)
        if d is None:
            continue
        a, b = int(bounds[d]), int(bounds[d + 1])
        lo[k] = a + np.searchsorted(ts[a:b], start[k], "left")
        hi[k] = a + np.searchsorted(ts[a:b], end[k], "left")
    target = np.array([target_of[s.grid_id] for s in shifts], np.int64)
    capacity = int(2 * (hi - lo).sum() + n)
    out = {name: np.zeros(n, np.int64) for name in ("arrival", "departure", "inside", "outside")}
    mileage = np.zeros(n, np.float64)
    p_shift, p_kind = np.zeros(capacity, np.int64), np.zeros(capacity, np.int64)
    p_start, p_end = np.zeros(capacity, np.int64), np.zeros(capacity, np.int64)
    from geofence._attendance import (  # a kernel module: loaded where it runs
        shift_figures,
    )

    count = shift_figures(
        ts, np.ascontiguousarray(fixes.grid), np.ascontiguousarray(x), np.ascontiguousarray(y),
        lo, hi, start, end, target, member, int(to_us(settings.segment_max_s)),
        out["arrival"], out["departure"], out["inside"], out["outside"], mileage,
        p_shift, p_kind, p_start, p_end,
    )  # fmt: skip
    periods: list[dict[int, list[list[str]]]] = [{OUT: [], SILENT: []} for _ in shifts]
    tz = settings.tz
    bounds_text = iso_us(np.concatenate([p_start[:count], p_end[:count]]), tz)
    for k, kind, since, until in zip(
        p_shift[:count].tolist(),
        p_kind[:count].tolist(),
        bounds_text[:count],
        bounds_text[count:],
        strict=True,
    ):
        periods[k][kind].append([since, until])
    times = iso_us(np.concatenate([start, end, out["arrival"], out["departure"]]), tz)
    grace = int(to_us(settings.grace_s))
    return [
        _row(
            shift,
            int(start[k]),
            int(end[k]),
            int(out["arrival"][k]),
            int(out["departure"][k]),
            int(out["inside"][k]),
            int(out["outside"][k]),
            float(mileage[k]),
            periods[k],
            grace,
            times[k::n],
        )
        for k, shift in enumerate(shifts)
    ]


def _row(
    shift: WorkerShift,
    start: int,
    end: int,
    arrival: int,
    departure: int,
    inside: int,
    outside: int,
    metres: float,
    periods: dict[int, list[list[str]]],
    grace: int,
    texts: list[str],
) -> dict[str, object]:
    """``texts``: start, end, arrival and departure as ISO 8601 times."""
    absent = arrival < 0
    late = not absent and arrival > start + grace
    early = not absent and departure < end - grace
    length = end - start
    fix_time = inside + outside
    return {
        "date": shift.day.isoformat(),
        "worker": shift.worker,
        "device_id": shift.device_id,
        "grid_id": shift.grid_id,
        "shift_start": texts[0],
        "shift_end": texts[1],
        "arrival": None if absent else texts[2],
        "late": late,
        "late_s": _s(arrival - start) if late else 0.0,
        "departure": None if absent else texts[3],
        "left_early": early,
        "early_s": _s(end - departure) if early else 0.0,
        "absent": absent,
        "shift_s": _s(length),
        "inside_s": _s(inside),
        "out_s": _s(outside),
        "silent_s": _s(length - fix_time),
        "presence": round(inside / length, 6),
        "fix_presence": round(inside / fix_time, 6) if fix_time > 0 else None,
        "mileage_m": round(metres, 1),
        "out_periods": periods[OUT],
        "silent_periods": periods[SILENT],
    }


def _s(us: int) -> float:
    return round(us / 1e6, 3)


def iso_us(us: np.ndarray, tz: ZoneInfo) -> list[str]:
    """Epoch microseconds as ``datetime.isoformat()`` in ``tz`` gives them (exact to the
    microsecond), formatted in one go: a district's day has hundreds of thousands."""
    local = pl.Series(np.asarray(us, np.int64)).cast(pl.Datetime("us", "UTC"))
    local = local.dt.convert_time_zone(tz.key)
    whole = pl.Series(np.asarray(us, np.int64) % 1_000_000 == 0)
    return (
        pl.select(
            pl.when(whole)
            .then(local.dt.strftime("%Y-%m-%dT%H:%M:%S%:z"))
            .otherwise(local.dt.strftime("%Y-%m-%dT%H:%M:%S%.6f%:z"))
        )
        .to_series()
        .to_list()
    )


def shift_presence(rows: list[dict[str, object]]) -> dict[str, float]:
    """Per device, its presence over the given worker-shifts together: time inside the
    assigned grids / shift time (the scorecard's presence of a device with a roster)."""
    inside: dict[str, float] = {}
    length: dict[str, float] = {}
    for r in rows:
        device = str(r["device_id"])
        inside[device] = inside.get(device, 0.0) + float(r["inside_s"])  # type: ignore[arg-type]
        length[device] = length.get(device, 0.0) + float(r["shift_s"])  # type: ignore[arg-type]
    return {d: round(inside[d] / length[d], 6) for d in inside if length[d] > 0}
