"""Reports over a window from the stored fixes: compliance, coverage and presence rows."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from zoneinfo import ZoneInfo

from geofence.compliance import compliance_rows
from geofence.config import GeofenceSettings
from geofence.coverage import coverage_rows, device_coverage_rows, grid_cells
from geofence.fixes import Fixes, load_fixes
from geofence.grids import GridSet
from geofence.presence import presence_rows
from geofence.visits import find_visits
from tracks.store import Store

KINDS = ("compliance", "coverage", "presence")


def assigned_grids(store: Store) -> dict[str, str]:
    rows = (
        store.cursor()
        .execute("SELECT device_id, grid_id FROM devices WHERE grid_id IS NOT NULL")
        .fetchall()
    )
    return dict(rows)


def compute_report(
    kind: str,
    grid_set: GridSet,
    fixes: Fixes,
    start: dt.datetime,
    end: dt.datetime,
    settings: GeofenceSettings,
    assigned: dict[str, str],
    *,
    by_device: bool = False,
) -> list[dict[str, object]]:
    t0, t1 = start.timestamp(), end.timestamp()
    if kind == "compliance":
        visits = find_visits(grid_set, fixes, settings.segment_max_s)
        return compliance_rows(grid_set, visits, t0, t1, ZoneInfo(settings.timezone))
    if kind == "coverage":
        cells = grid_cells(grid_set, settings.cell_m)
        if by_device:
            return device_coverage_rows(
                grid_set, cells, fixes, assigned, settings.reach_m, settings.segment_max_s
            )
        return coverage_rows(grid_set, cells, fixes, settings.reach_m, settings.segment_max_s)
    if kind == "presence":
        return presence_rows(grid_set, fixes, assigned, t1, settings.segment_max_s)
    raise ValueError(kind)


def run_report(
    kind: str,
    grid_set: GridSet,
    store: Store,
    start: dt.datetime,
    end: dt.datetime,
    settings: GeofenceSettings,
    *,
    grid_id: str | None = None,
    device_id: str | None = None,
) -> list[dict[str, object]]:
    """Rows of one report; ``grid_id`` keeps that grid's row, ``device_id`` that device's."""
    fixes = load_fixes(grid_set, store, start, end)
    assigned = assigned_grids(store)
    rows = compute_report(
        kind, grid_set, fixes, start, end, settings, assigned, by_device=device_id is not None
    )
    if grid_id is not None:
        rows = [r for r in rows if r["grid_id"] == grid_id]
    if device_id is not None:
        rows = [r for r in rows if r.get("device_id") == device_id]
    return rows


def format_rows(rows: list[dict[str, object]], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(rows, ensure_ascii=False, indent=1)
    if not rows:
        return ""
    keys = list(rows[0])
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(keys)
        for r in rows:
            writer.writerow([json.dumps(r[k]) if isinstance(r[k], list) else r[k] for k in keys])
        return out.getvalue()
    cells = [[_cell(r[k]) for k in keys] for r in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    lines = ["  ".join(k.ljust(w) for k, w in zip(keys, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, list):
        return f"{len(value)} violation(s)" if value else "-"
    if value is None:
        return "-"
    return str(value)
