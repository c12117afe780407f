"""Attendance (考勤): one row per worker-shift of the roster, as ``gridpatrol report
attendance`` gives them, scoped by the token's grids like the other reports."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field

from api.access import RECORDED
from api.deps import Auth, Context, TimeWindow, report_grids
from api.models import Model
from api.routes.reports import check_grid
from patrol.attendance import run_attendance

router = APIRouter(tags=["reports"], dependencies=[RECORDED])  # a report: on record


class AttendanceRow(Model):
    date: str = Field(description="the roster day the shift starts on")
    worker: str
    device_id: str
    grid_id: str = Field(description="the grid the roster assigns for the shift")
    shift_start: str
    shift_end: str
    arrival: str | None = Field(description="first usable fix inside the grid in the shift")
    late: bool
    late_s: float
    departure: str | None = Field(description="last usable fix inside the grid in the shift")
    left_early: bool
    early_s: float
    absent: bool
    shift_s: float
    inside_s: float
    out_s: float
    silent_s: float
    presence: float = Field(description="time inside the grid / shift time")
    fix_presence: float | None = Field(description="time inside / time the fixes stand for")
    mileage_m: float
    out_periods: list[list[str]] = Field(description="[start, end] out of the grid")
    silent_periods: list[list[str]] = Field(description="[start, end] with no fix")


@router.get(
    "/attendance",
    response_model=list[AttendanceRow],
    summary="Attendance per worker-shift of the roster: arrival, lateness, presence, mileage",
)
def attendance(
    context: Context,
    principal: Auth,
    window: TimeWindow,
    grid_id: Annotated[str | None, Query(max_length=128)] = None,
    device_id: Annotated[str | None, Query(max_length=64)] = None,
) -> list[dict[str, object]]:
    check_grid(context, principal, grid_id)
    rows = run_attendance(
        report_grids(context),
        context.store,
        window.start,
        window.end,
        context.geofence,
        device_id=device_id,
        grid_id=grid_id,
    )
    return [r for r in rows if principal.sees_grid(str(r["grid_id"]))]
