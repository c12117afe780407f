"""The daily scorecard from storage: one code path for ``gridpatrol scorecard`` and the API."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from geofence.config import GeofenceSettings
from geofence.daily import NEEDS
from geofence.scorecard import (
    assigned_of,
    day_window,
    score_rows,
    scorecard_rows,
    with_shift_presence,
)
from patrol.attendance import roster_presence
from patrol.derive import ReportGrids, read_window
from patrol.fixes import load_fixes
from tracks.devices import read_assignments
from tracks.store import Store


def run_scorecard(
    grids: ReportGrids,
    store: Store,
    day: dt.date,
    settings: GeofenceSettings,
    *,
    recompute: bool = False,
) -> list[dict[str, object]]:
    """Each assigned worker's row for the service day ``day`` (see geofence.scorecard),
    from the derived data (``recompute``: from the day's pings). A worker with shifts that
    day on the roster gets the presence of the shifts (from the day's fixes)."""
    presence = roster_presence(grids, store, day, settings)
    return with_shift_presence(_scorecard(grids, store, day, settings, recompute), presence)


def _scorecard(
    grids: ReportGrids, store: Store, day: dt.date, settings: GeofenceSettings, recompute: bool
) -> list[dict[str, object]]:
    start, end = day_window(day, settings.tz)
    workers = list(read_assignments(store).iter_rows())
    if recompute:
        grid_set = grids.indexed()
        return scorecard_rows(
            grid_set, load_fixes(grid_set, store, start, end), workers, day, settings
        )
    assigned = assigned_of(grids.catalog, workers)
    needs = NEEDS["compliance"] | NEEDS["device_coverage"] | NEEDS["presence"]
    facts = read_window(grids, store, start, end, settings, needs)
    return score_rows(
        workers,
        assigned,
        facts.compliance(),
        facts.device_coverage(assigned),
        facts.presence(assigned),
        day,
    )


def service_days(start: dt.datetime, end: dt.datetime, tz: ZoneInfo) -> list[dt.date]:
    """The days (in ``tz``) whose whole day lies in [start, end)."""
    day = start.astimezone(tz).date()
    if day_window(day, tz)[0] < start:
        day += dt.timedelta(days=1)
    days = []
    while day_window(day, tz)[1] <= end:
        days.append(day)
        day += dt.timedelta(days=1)
    return days


def run_assessment(
    grids: ReportGrids,
    store: Store,
    days: list[dt.date],
    settings: GeofenceSettings,
    *,
    recompute: bool = False,
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """Each worker's daily rows over ``days``, and one row per worker with the means of the
    daily presence, coverage, compliance and score (days without a value left out), the
    violations summed, and the days counted: the weekly or monthly assessment."""
    daily = [
        row
        for day in days
        for row in run_scorecard(grids, store, day, settings, recompute=recompute)
    ]
    span = f"{days[0].isoformat()}..{days[-1].isoformat()}" if days else ""
    by_device: dict[str, list[dict[str, object]]] = {}
    for row in daily:
        by_device.setdefault(str(row["device_id"]), []).append(row)
    means = []
    for rows in by_device.values():
        first = rows[0]
        mean: dict[str, object] = {
            "date": span,
            "worker": first["worker"],
            "device_id": first["device_id"],
            "grid_id": first["grid_id"],
        }
        for key in ("presence", "coverage", "compliance"):
            mean[key] = _mean([r[key] for r in rows], 6)
        mean["violations"] = sum(int(r["violations"]) for r in rows)  # type: ignore[call-overload]
        mean["score"] = _mean([r["score"] for r in rows], 1)
        mean["days"] = len(rows)
        means.append(mean)
    return daily, means


def _mean(values: list[object], digits: int) -> float | None:
    numbers = [float(v) for v in values if isinstance(v, int | float)]
    return round(sum(numbers) / len(numbers), digits) if numbers else None
