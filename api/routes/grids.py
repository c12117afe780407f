"""GET /grids: the grids as GeoJSON with their live status."""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.context import ApiContext
from api.deps import Auth, Context, Polls, Principal, live_now, need_grids
from api.gridstates import grid_states
from api.models import NOT_MODIFIED, GridCollection
from api.polls import answer, encode
from patrol.live import LiveSnapshot

router = APIRouter(tags=["grids"])


@router.get(
    "/grids",
    summary="Grids with live status (GeoJSON FeatureCollection)",
    response_model=GridCollection,
    responses=NOT_MODIFIED,
)
def list_grids(
    request: Request,
    context: Context,
    principal: Auth,
    polls: Polls,
    geometry: Annotated[
        bool, Query(description="false: statuses only, every geometry null (the map's refresh)")
    ] = True,
) -> Response:
    """Answered from the bytes serialised once per live snapshot, service day and scope;
    ``If-None-Match`` with the ETag: a 304."""
    need_grids(context)
    version = _version(context)
    body = polls.body(
        ("grids", principal.grids, geometry),
        version,
        lambda: grid_body(context, principal, geometry, version),
    )
    return answer(request, body)


Version = tuple[LiveSnapshot | None, str, str]  # the snapshot, the service day, the clock


def _version(context: ApiContext) -> Version:
    """What the body is made of besides the grids and the scope: the live snapshot, the
    service day's start on the live clock, and which clock that is."""
    live = context.live.snapshot() if context.live is not None else None
    clock = context.live.live.live_clock if context.live is not None else "wall"
    today = dt.datetime.fromtimestamp(live_now(context), context.geofence.tz)
    day_start = today.replace(hour=0, minute=0, second=0, microsecond=0).isoformat()
    return live, day_start, clock


def grid_body(
    context: ApiContext, principal: Principal, geometry: bool = True, version: Version | None = None
) -> bytes:
    """The body of GET /grids (which the route serves from its cached bytes), made of bytes:
    each grid's geometry is encoded once (api/context.py), its properties per version."""
    grid_set = need_grids(context)
    live, day_start, clock = version or _version(context)
    tz = context.geofence.tz
    head = encode(
        {
            "type": "FeatureCollection",
            "timezone": context.geofence.timezone,
            "service_day_start": day_start,
            "live_clock": clock,
            "event_time": _event_time(live, tz),
        }
    )
    geometries = context.grid_geometry_json() if geometry else {}
    states = grid_states(grid_set, live, tz)
    tree = grid_set.tree
    features = []
    for grid in grid_set.grids:
        if not principal.sees_grid(grid.id):
            continue
        state = states[grid.id]
        properties = encode(
            {
                "id": grid.id,
                "name": grid.name,
                "parent": grid.parent,
                "is_leaf": grid.id in tree.position,
                "interval_min": grid.interval_s / 60,
                "service_hours": grid.service_hours,
                "last_visit": state.last_visit,
                "overdue_since": state.overdue_since,
                "status": state.status,
            }
        )
        features.append(
            b'{"type":"Feature","id":'
            + encode(grid.id)
            + b',"properties":'
            + properties
            + b',"geometry":'
            + geometries.get(grid.id, b"null")
            + b"}"
        )
    return head[:-1] + b',"features":[' + b",".join(features) + b"]}"


def _event_time(live: LiveSnapshot | None, tz: ZoneInfo) -> str | None:
    if live is None or not math.isfinite(live.event_time):
        return None
    return dt.datetime.fromtimestamp(live.event_time, tz).isoformat()
