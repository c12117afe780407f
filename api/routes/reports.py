"""Reports: the same rows as ``gridpatrol report``, plus the daily scorecard."""

from __future__ import annotations

import datetime as dt
import io
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from api.access import RECORDED
from api.deps import Auth, Context, TimeWindow, need_grids, report_grids
from api.errors import ApiError
from api.models import ComplianceRow, CoverageRow, DeviceCoverageRow, PresenceRow, ScorecardRow
from patrol.reports import run_report, run_reports
from patrol.scorecard import run_scorecard
from patrol.workbook import write_workbook
from tracks.devices import read_devices

router = APIRouter(tags=["reports"], dependencies=[RECORDED])  # every report: on record

GridId = Annotated[str | None, Query(max_length=128)]
DeviceId = Annotated[str | None, Query(max_length=64)]


def check_grid(context: Context, principal: Auth, grid_id: str | None) -> None:
    if grid_id is None:
        return
    if grid_id not in need_grids(context).by_id:
        raise ApiError(404, f"no grid {grid_id!r}")
    if not principal.sees_grid(grid_id):
        raise ApiError(403, f"grid {grid_id!r} is outside your grids")


def _check_device(context: Context, principal: Auth, device_id: str | None) -> None:
    if device_id is None:
        return
    row = read_devices(context.store, device_id)
    if row.height == 0:
        raise ApiError(404, f"no registered device {device_id!r}")
    if not principal.sees_grid(row["grid_id"][0]):
        raise ApiError(403, f"device {device_id!r} is outside your grids")


def _report(
    kind: str,
    context: Context,
    principal: Auth,
    window: TimeWindow,
    grid_id: str | None = None,
    device_id: str | None = None,
) -> list[dict[str, object]]:
    check_grid(context, principal, grid_id)
    _check_device(context, principal, device_id)
    rows = run_report(
        kind,
        report_grids(context),
        context.store,
        window.start,
        window.end,
        context.geofence,
        grid_id=grid_id,
        device_id=device_id,
    )
    return [r for r in rows if principal.sees_grid(str(r["grid_id"]))]


@router.get(
    "/compliance",
    response_model=list[ComplianceRow],
    summary="The interval rule per grid (leaves, then parents)",
)
def compliance(
    context: Context, principal: Auth, window: TimeWindow, grid_id: GridId = None
) -> list[dict[str, object]]:
    return _report("compliance", context, principal, window, grid_id=grid_id)


@router.get(
    "/coverage",
    response_model=list[CoverageRow] | list[DeviceCoverageRow],
    summary="Coverage per grid, or of one device's assigned grid",
)
def coverage(
    context: Context,
    principal: Auth,
    window: TimeWindow,
    grid_id: GridId = None,
    device_id: DeviceId = None,
) -> list[dict[str, object]]:
    return _report("coverage", context, principal, window, grid_id=grid_id, device_id=device_id)


@router.get(
    "/presence",
    response_model=list[PresenceRow],
    summary="Presence (到位率) per device in its assigned grid",
)
def presence(
    context: Context, principal: Auth, window: TimeWindow, device_id: DeviceId = None
) -> list[dict[str, object]]:
    return _report("presence", context, principal, window, device_id=device_id)


@router.get(
    "/scorecard",
    response_model=list[ScorecardRow],
    summary="Each worker's day: presence, coverage, compliance, score",
)
def scorecard(
    context: Context,
    principal: Auth,
    date: Annotated[dt.date, Query(description="service day, YYYY-MM-DD")],
) -> list[dict[str, object]]:
    if not dt.date(1970, 1, 2) <= date <= dt.date(9999, 12, 30):
        raise ApiError(422, f"date: {date.isoformat()} is out of range")
    rows = run_scorecard(report_grids(context), context.store, date, context.geofence)
    return [r for r in rows if principal.sees_grid(str(r["grid_id"]))]


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
WorkbookKind = Literal["compliance", "coverage", "presence", "scorecard", "all"]


@router.get(
    "/reports/{kind}.xlsx",
    summary="The same reports as a workbook (gridpatrol report KIND --format xlsx)",
    response_class=Response,
    responses={
        200: {
            "content": {XLSX: {"schema": {"type": "string", "format": "binary"}}},
            "description": "one sheet per report (scorecard: daily and the means)",
        }
    },
)
def workbook(
    context: Context,
    principal: Auth,
    window: TimeWindow,
    kind: WorkbookKind,
    lang: Literal["zh", "en"] = "zh",
) -> Response:
    sheets = run_reports(
        kind, report_grids(context), context.store, window.start, window.end, context.geofence
    )
    seen = {
        k: [r for r in rows if principal.sees_grid(str(r["grid_id"]))] for k, rows in sheets.items()
    }
    out = io.BytesIO()
    write_workbook(out, seen, timezone=context.geofence.timezone, language=lang)
    name = f"{kind}-{window.start:%Y%m%d}-{window.end:%Y%m%d}.xlsx"
    return Response(
        out.getvalue(),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
