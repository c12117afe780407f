"""Alerts: the history since a time, and a live Server-Sent Events stream."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from api.deps import Auth, Context, parse_time
from api.models import AlertKindInfo, AlertOut, GridStatus
from geofence.alerts import ENDED_BY, AlertKind
from tracks.alerts import read_alerts
from tracks.devices import read_devices

router = APIRouter(tags=["alerts"])


@router.get(
    "/alerts",
    summary="Alerts raised since a time (default: the last 24 hours)",
    response_model=list[AlertOut],
)
def list_alerts(
    context: Context,
    principal: Auth,
    since: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> list[dict[str, object]]:
    start = (
        parse_time(since, "since")
        if since is not None
        else dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    )
    tz = context.geofence.tz
    out = []
    for row in read_alerts(context.store, start, limit).iter_rows(named=True):
        grid_id = row["grid_id"]
        if not principal.sees_grid(grid_id if grid_id is not None else row["device_grid"]):
            continue
        out.append(
            {
                "alert_id": row["alert_id"],
                "kind": row["kind"],
                "grid_id": grid_id,
                "device_id": row["device_id"],
                "at": row["ts"].astimezone(tz).isoformat(),
                "raised_at": row["raised_at"].astimezone(tz).isoformat(),
                "detail": row["detail"],
            }
        )
    return out


#: The status a grid takes with each grid alert (the live map colours grids by it).
GRID_STATUS: dict[AlertKind, GridStatus] = {AlertKind.OVERDUE: "overdue", AlertKind.CLEARED: "ok"}


@router.get(
    "/alerts/kinds",
    summary="Every alert kind, the kind that ends it, and the grid status it sets",
    response_model=list[AlertKindInfo],
)
def alert_kinds(principal: Auth) -> list[dict[str, object]]:
    ends = {end: begin for begin, end in ENDED_BY.items()}
    return [
        {
            "kind": kind,
            "ends": ends.get(kind),
            "ended_by": ENDED_BY.get(kind),
            "grid_status": GRID_STATUS.get(kind),
        }
        for kind in AlertKind
    ]


@router.get(
    "/alerts/stream",
    summary="New alerts as Server-Sent Events (event: alert, data: the alert as JSON)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}},
)
async def stream_alerts(request: Request, context: Context, principal: Auth) -> StreamingResponse:
    tz = context.geofence.tz
    registry = read_devices(context.store).select("device_id", "grid_id").iter_rows()
    devices = {device_id: grid_id for device_id, grid_id in registry}
    queue = context.hub.subscribe()
    keepalive = context.settings.sse_keepalive_s

    async def events() -> AsyncIterator[bytes]:
        try:
            yield b": connected\n\n"  # at once: clients count the stream open at a first line
            while not await request.is_disconnected():
                try:
                    alert = await asyncio.wait_for(queue.get(), keepalive)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                subject = (
                    alert.grid_id if alert.grid_id is not None else devices.get(alert.device_id)
                )
                if principal.sees_grid(subject):
                    body = json.dumps(alert.to_json(tz))
                    yield f"event: alert\ndata: {body}\n\n".encode()
        finally:
            context.hub.unsubscribe(queue)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
