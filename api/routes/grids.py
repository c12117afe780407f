"""GET /grids: the grids as GeoJSON with their live status."""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Auth, Context, need_grids
from api.models import GridCollection

router = APIRouter(tags=["grids"])


@router.get(
    "/grids",
    summary="Grids with live status (GeoJSON FeatureCollection)",
    response_model=GridCollection,
)
def list_grids(
    context: Context,
    principal: Auth,
    geometry: Annotated[
        bool, Query(description="false: statuses only, every geometry null (the map's refresh)")
    ] = True,
) -> dict[str, object]:
    grid_set = need_grids(context)
    tz = context.geofence.tz
    geometries = context.grid_geometries() if geometry else {}
    live = context.live.snapshot() if context.live is not None else None
    tree = grid_set.tree
    features = []
    if live is not None:
        # one pass over the leaves' newest visits; parents take the newest of their leaves
        visits = live.last_visit.tolist()
        overdue_at = live.overdue
    for grid in grid_set.grids:
        if not principal.sees_grid(grid.id):
            continue
        last_visit = None
        overdue_since = None
        status = "ok"
        if live is not None:
            leaf = tree.position.get(grid.id)
            if leaf is not None:
                latest = visits[leaf]
                overdue = [overdue_at[grid.id]] if grid.id in overdue_at else []
            else:
                latest = max((visits[i] for i in tree.positions_under[grid.id]), default=-math.inf)
                overdue = [overdue_at[i] for i in tree.leaves_under[grid.id] if i in overdue_at]
            if math.isfinite(latest):
                last_visit = dt.datetime.fromtimestamp(latest, tz).isoformat()
            if overdue:
                overdue_since = dt.datetime.fromtimestamp(min(overdue), tz).isoformat()
                status = "overdue"
            elif last_visit is None:
                status = "no_data"
        features.append(
            {
                "type": "Feature",
                "id": grid.id,
                "properties": {
                    "id": grid.id,
                    "name": grid.name,
                    "parent": grid.parent,
                    "is_leaf": grid.id in tree.position,
                    "interval_min": grid.interval_s / 60,
                    "service_hours": grid.service_hours,
                    "last_visit": last_visit,
                    "overdue_since": overdue_since,
                    "status": status,
                },
                "geometry": geometries.get(grid.id),
            }
        )
    today = dt.datetime.now(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    return {
        "type": "FeatureCollection",
        "timezone": context.geofence.timezone,
        "service_day_start": today.isoformat(),
        "features": features,
    }
