"""GET /devices and a device's track as GeoJSON, CSV, GPX or Parquet."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Annotated, Literal
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from api.access import RECORDED
from api.deps import Auth, Context, TimeWindow
from api.errors import ApiError
from api.models import JSON_ERROR_RESPONSES, Device, TrackFeature
from base.spreadsheet import neutralise_frame
from tracks.devices import read_device_positions, read_devices
from tracks.queries import read_track

router = APIRouter(tags=["devices"], dependencies=[RECORDED])  # positions, tracks: on record


class GeoJSONResponse(Response):
    media_type = "application/geo+json"


DeviceId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


def _iso(value: dt.datetime | None, tz: ZoneInfo) -> str | None:
    return value.astimezone(tz).isoformat() if value is not None else None


@router.get(
    "/devices", summary="Every device's latest position and state", response_model=list[Device]
)
def list_devices(context: Context, principal: Auth) -> list[dict[str, object]]:
    tz = context.geofence.tz
    rows = read_device_positions(context.store).iter_rows()
    live = context.live.snapshot() if context.live is not None else None
    out = []
    for device_id, kind, worker, grid_id, ts, lat, lon, current in rows:
        if not principal.sees_grid(grid_id):
            continue
        online = live is not None and live.is_online(device_id)
        out.append(
            {
                "device_id": device_id,
                "kind": kind,
                "worker": worker,
                "assigned_grid": grid_id,
                "last_seen": _iso(ts, tz),
                "lat": lat,
                "lon": lon,
                "current_grid": current,
                "online": online,
            }
        )
    return out


def _assigned_grid(context: Context, device_id: str) -> tuple[bool, str | None]:
    row = read_devices(context.store, device_id)
    return (row.height > 0, row["grid_id"][0] if row.height else None)


@router.get(
    "/devices/{device_id}/track",
    summary="One device's track in a window",
    response_class=GeoJSONResponse,
    responses={
        200: {
            "model": TrackFeature,
            "description": "the track: GeoJSON, or a CSV, GPX or Parquet download",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/gpx+xml": {"schema": {"type": "string"}},
                "application/vnd.apache.parquet": {
                    "schema": {"type": "string", "format": "binary"}
                },
            },
        },
        **JSON_ERROR_RESPONSES,
    },
)
def device_track(
    device_id: DeviceId,
    window: TimeWindow,
    context: Context,
    principal: Auth,
    format: Annotated[Literal["geojson", "csv", "gpx", "parquet"], Query()] = "geojson",
) -> Response:
    known, grid_id = _assigned_grid(context, device_id)
    if principal.grids is not None and not principal.sees_grid(grid_id):
        raise ApiError(403, f"device {device_id!r} is outside your grids")
    track = read_track(context.store, device_id, window.start, window.end)
    if not known and track.height == 0:
        raise ApiError(404, f"no device {device_id!r}")
    name = f"{device_id}-{window.start:%Y%m%dT%H%M}"
    if format == "csv":
        return Response(
            neutralise_frame(track).write_csv(),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    if format == "parquet":
        buf = io.BytesIO()
        track.write_parquet(buf)
        return Response(
            buf.getvalue(),
            media_type="application/vnd.apache.parquet",
            headers={"Content-Disposition": f'attachment; filename="{name}.parquet"'},
        )
    tz = context.geofence.tz
    if format == "gpx":
        points = "".join(
            f'<trkpt lat="{lat}" lon="{lon}"><time>{ts.astimezone(dt.UTC).isoformat()}</time></trkpt>'
            for lat, lon, ts in track.select("lat", "lon", "ts").iter_rows()
        )
        gpx = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="1.1" creator="gridpatrol" '
            'xmlns="http://www.topografix.com/GPX/1/1">'
            f"<trk><name>{escape(device_id)}</name><trkseg>{points}</trkseg></trk></gpx>"
        )
        return Response(
            gpx,
            media_type="application/gpx+xml",
            headers={"Content-Disposition": f'attachment; filename="{name}.gpx"'},
        )
    coords = [[lon, lat] for lon, lat in track.select("lon", "lat").iter_rows()]
    feature = {
        "type": "Feature",
        "properties": {
            "device_id": device_id,
            "times": [ts.astimezone(tz).isoformat() for ts in track["ts"]],
            "flags": track["flags"].to_list(),
            "grid_ids": track["grid_id"].to_list(),
        },
        "geometry": {"type": "LineString", "coordinates": coords},
    }
    return GeoJSONResponse(json.dumps(feature))
