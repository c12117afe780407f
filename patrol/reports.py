"""Reports over a window from storage: one code path for ``gridpatrol report`` and the API."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

from base.spreadsheet import neutralise
from geofence.config import GeofenceSettings
from geofence.daily import NEEDS, WindowFacts
from geofence.fixes import Fixes
from geofence.reports import compute_report
from patrol.derive import ReportGrids, read_window
from patrol.fixes import load_fixes
from patrol.scorecard import run_assessment, service_days
from tracks.devices import read_assignments
from tracks.store import Store


def assigned_grids(store: Store) -> dict[str, str]:
    """Device id -> its assigned grid id, for every device with one."""
    rows = read_assignments(store).select("device_id", "grid_id").iter_rows()
    return {device_id: grid_id for device_id, grid_id in rows}


def run_report(
    kind: str,
    grids: ReportGrids,
    store: Store,
    start: dt.datetime,
    end: dt.datetime,
    settings: GeofenceSettings,
    *,
    grid_id: str | None = None,
    device_id: str | None = None,
    recompute: bool = False,
) -> list[dict[str, object]]:
    """Rows of one report; ``grid_id`` keeps that grid's row, ``device_id`` that device's.

    From the derived data (patrol.derive), or with ``recompute`` from every ping of the
    window (the audit path and the tests' oracle): the same rows."""
    assigned = assigned_grids(store)
    if recompute:
        grid_set = grids.indexed()
        fixes = load_fixes(grid_set, store, start, end)
        rows = compute_report(
            kind, grid_set, fixes, start, end, settings, assigned, by_device=device_id is not None
        )
    else:
        by_device = device_id is not None
        needs = NEEDS["device_coverage" if by_device and kind == "coverage" else kind]
        facts = read_window(grids, store, start, end, settings, needs)
        rows = facts_rows(kind, facts, assigned, by_device=by_device)
    if grid_id is not None:
        rows = [r for r in rows if r["grid_id"] == grid_id]
    if device_id is not None:
        rows = [r for r in rows if r.get("device_id") == device_id]
    return rows


#: What ``gridpatrol report KIND`` and ``GET /reports/{kind}.xlsx`` put in a workbook.
WORKBOOK_KINDS = ("compliance", "coverage", "presence", "scorecard", "all")


def facts_rows(
    kind: str, facts: WindowFacts, assigned: dict[str, str], *, by_device: bool = False
) -> list[dict[str, object]]:
    """The rows of one report kind from a window's facts."""
    if kind == "compliance":
        return facts.compliance()
    if kind == "coverage":
        return facts.device_coverage(assigned) if by_device else facts.coverage()
    if kind == "presence":
        return facts.presence(assigned)
    raise ValueError(kind)


def run_reports(
    kind: str,
    grids: ReportGrids,
    store: Store,
    start: dt.datetime,
    end: dt.datetime,
    settings: GeofenceSettings,
    *,
    recompute: bool = False,
) -> dict[str, list[dict[str, object]]]:
    """The sheets of one workbook kind (or of ``all``): sheet kind -> rows."""
    kinds = ("compliance", "coverage", "presence", "scorecard") if kind == "all" else (kind,)
    sheets: dict[str, list[dict[str, object]]] = {}
    assigned = assigned_grids(store)
    facts: WindowFacts | Fixes | None = None
    if kinds != ("scorecard",):
        if recompute:
            facts = load_fixes(grids.indexed(), store, start, end)
        else:
            needs = frozenset().union(*(NEEDS[k] for k in kinds if k != "scorecard"))
            if "coverage" in kinds:
                needs |= NEEDS["device_coverage"]
            facts = read_window(grids, store, start, end, settings, needs)
    for k in kinds:
        if k == "scorecard":
            days = service_days(start, end, settings.tz)
            sheets["scorecard"], sheets["assessment"] = run_assessment(
                grids, store, days, settings, recompute=recompute
            )
            continue
        for name, by_device in ((k, False), ("device_coverage", True)):
            if by_device and k != "coverage":
                continue
            if isinstance(facts, WindowFacts):
                sheets[name] = facts_rows(k, facts, assigned, by_device=by_device)
            else:
                assert facts is not None
                sheets[name] = compute_report(
                    k, grids.indexed(), facts, start, end, settings, assigned, by_device=by_device
                )
    return sheets


def format_rows(rows: list[dict[str, object]], fmt: str) -> str:
    """Rows as JSON, CSV or an aligned text table (``gridpatrol report --format``).

    In CSV, text a spreadsheet would run as a formula starts with ``'`` (base.spreadsheet)."""
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
            writer.writerow(
                [json.dumps(r[k]) if isinstance(r[k], list) else neutralise(r[k]) for k in keys]
            )
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
