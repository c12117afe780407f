"""The daily assessment per worker: presence, coverage and compliance, with points.

score = 100 x (0.4 presence + 0.3 coverage + 0.3 compliance)
        - 2 points per interval violation of the assigned grid (at most 20)
        + 5 bonus points when presence >= 0.9 and the grid had no violation,
clamped to [0, 100]. A missing figure (no fixes, no service time) counts as 0.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from geofence.compliance import compliance_rows
from geofence.config import GeofenceSettings
from geofence.coverage import device_coverage_rows, grid_cells
from geofence.fixes import Fixes
from geofence.grids import GridSet, Leaves
from geofence.presence import presence_rows
from geofence.visits import find_visits

VIOLATION_POINTS = 2.0
MAX_DEDUCTION = 20.0
BONUS_POINTS = 5.0
BONUS_PRESENCE = 0.9


def score(
    presence: float | None, coverage: float | None, compliance: float | None, violations: int
) -> float:
    base = 100 * (0.4 * (presence or 0) + 0.3 * (coverage or 0) + 0.3 * (compliance or 0))
    deduction = min(MAX_DEDUCTION, VIOLATION_POINTS * violations)
    bonus = BONUS_POINTS if (presence or 0) >= BONUS_PRESENCE and violations == 0 else 0.0
    return round(max(0.0, min(100.0, base - deduction + bonus)), 1)


def day_window(day: dt.date, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time(), tz)
    return start, dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz)


def scorecard_rows(
    grid_set: GridSet,
    fixes: Fixes,
    workers: list[tuple[str, str | None, str]],
    day: dt.date,
    settings: GeofenceSettings,
) -> list[dict[str, object]]:
    """One row per worker's device (``workers``: device_id, worker, assigned grid id, in
    the order of the rows) whose grid exists, from the day's usable ``fixes``."""
    tz = settings.tz
    start, end = day_window(day, tz)
    assigned = assigned_of(grid_set, workers)
    visits = find_visits(grid_set, fixes, settings.segment_max_s)
    compliance = compliance_rows(grid_set, visits, start.timestamp(), end.timestamp(), tz)
    cells = grid_cells(grid_set, settings.cell_m)
    coverage = device_coverage_rows(
        grid_set, cells, fixes, assigned, settings.reach_m, settings.segment_max_s
    )
    presence = presence_rows(grid_set, fixes, assigned, end.timestamp(), settings.segment_max_s)
    return score_rows(workers, assigned, compliance, coverage, presence, day)


def assigned_of(grid_set: Leaves, workers: list[tuple[str, str | None, str]]) -> dict[str, str]:
    """Device id -> assigned grid id, for the workers whose grid exists."""
    return {d: g for d, _, g in workers if g in grid_set.by_id}


def score_rows(
    workers: list[tuple[str, str | None, str]],
    assigned: dict[str, str],
    compliance_rows: list[dict[str, object]],
    device_coverage_rows: list[dict[str, object]],
    presence_rows: list[dict[str, object]],
    day: dt.date,
) -> list[dict[str, object]]:
    """One row per worker of ``assigned`` from the day's report rows."""
    compliance = {r["grid_id"]: r for r in compliance_rows}
    coverage = {r["device_id"]: r for r in device_coverage_rows}
    presence = {r["device_id"]: r for r in presence_rows}
    rows = []
    for device_id, worker, grid_id in workers:
        if device_id not in assigned:
            continue
        c = compliance[grid_id]
        p = presence.get(device_id, {}).get("presence")
        cov = coverage.get(device_id, {}).get("coverage")
        comp = c["compliance"]
        violations = len(c["violations"]) if isinstance(c["violations"], list) else 0
        rows.append(
            {
                "date": day.isoformat(),
                "worker": worker,
                "device_id": device_id,
                "grid_id": grid_id,
                "presence": p,
                "coverage": cov,
                "compliance": comp,
                "violations": violations,
                "score": score(p, cov, comp, violations),  # type: ignore[arg-type]
            }
        )
    return rows


def with_shift_presence(
    rows: list[dict[str, object]], presence: dict[str, float]
) -> list[dict[str, object]]:
    """The rows with the presence of each device of ``presence`` (a worker with shifts that
    day: time inside the assigned grid during the shifts / shift time, docs/rules.md
    "Attendance") in place of the fix-time presence, and its score again; other rows as
    they are."""
    out = []
    for row in rows:
        p = presence.get(str(row["device_id"]))
        if p is not None:
            row = {**row, "presence": p}
            row["score"] = score(p, row["coverage"], row["compliance"], row["violations"])  # type: ignore[arg-type]
        out.append(row)
    return out
