"""GET /access: the access log, for admins (api/access.py writes it; nothing alters it)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Admin, Context, parse_time
from api.models import AccessRecord
from tracks.access import read_access

router = APIRouter(tags=["access"])


@router.get(
    "/access",
    summary="Reads of tracks, positions, exports and reports since a time (admins only)",
    response_model=list[AccessRecord],
)
def list_access(
    context: Context,
    principal: Admin,
    since: Annotated[str | None, Query(max_length=64, description="default: 24 h ago")] = None,
    limit: Annotated[int, Query(ge=1, le=100000)] = 10000,
) -> list[dict[str, object]]:
    start = (
        parse_time(since, "since")
        if since is not None
        else dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    )
    context.access.flush()  # what was read a moment ago is on record too
    tz = context.geofence.tz
    return [
        {
            "at": row.pop("ts").astimezone(tz).isoformat(),
            **row,
            "params": json.loads(row["params"]),
        }
        for row in read_access(context.store, start, limit).iter_rows(named=True)
    ]
