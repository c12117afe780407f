"""GET /grids: the grids as GeoJSON with their live status."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
from fastapi import APIRouter

from api.deps import Auth, Context, need_grids
from api.models import GridCollection

router = APIRouter(tags=["grids"])


@router.get(
    "/grids",
    summary="Grids with live status (GeoJSON FeatureCollection)",
    response_model=GridCollection,
)
def list_grids(context: Context, principal: Auth) -> dict[str, object]:
    grid_set = need_grids(context)
    tz = ZoneInfo(context.geofence.timezone)
    geometries = context.grid_geometries()
    live = context.live.snapshot() if context.live is not None else None
    tree = grid_set.tree
    features = []
    for grid in grid_set.grids:
        if not principal.sees_grid(grid.id):
            continue
        last_visit = None
        overdue_since = None
        status = "ok"
        if live is not None:
            latest = live.newest_visit(tree.positions_under[grid.id])
            if np.isfinite(latest):
                last_visit = dt.datetime.fromtimestamp(latest, tz).isoformat()
            overdue = [live.overdue[i] for i in tree.leaves_under[grid.id] if i in live.overdue]
            if overdue:
                overdue_since = dt.datetime.fromtimestamp(min(overdue), tz).isoformat()
                status = "overdue"
            elif last_visit is None:
                status = "no_data"
        features.append({
            "type": "Feature",
            "id": grid.id,
            "properties": {
                "id": grid.id, "name": grid.name, "parent": grid.parent,
                "is_leaf": grid.id in tree.position, "interval_min": grid.interval_s / 60,
                "service_hours": grid.service_hours, "last_visit": last_visit,
                "overdue_since": overdue_since, "status": status,
            },
            "geometry": geometries.get(grid.id),
        })  # fmt: skip
    today = dt.datetime.now(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    return {
        "type": "FeatureCollection",
        "timezone": context.geofence.timezone,
        "service_day_start": today.isoformat(),
        "features": features,
    }
