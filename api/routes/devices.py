"""GET /devices and a device's track as GeoJSON, CSV, GPX or Parquet."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Literal
from xml.sax.saxutils import escape

import polars as pl
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response, StreamingResponse

from api.access import RECORDED
from api.deps import Auth, Context, Polls, TimeWindow, revoked
from api.errors import ApiError
from api.hub import StreamLimit
from api.models import JSON_ERROR_RESPONSES, NOT_MODIFIED, Device, TrackFeature
from api.polls import answer, body_of
from api.positions import PositionFeed, devices_json
from api.streams import EventStream
from base.datum import Datum, from_wgs84
from base.spreadsheet import neutralise_frame
from patrol.positions import live_positions, stored_positions
from patrol.rosters import on_duty_only
from tracks.devices import read_devices
from tracks.queries import read_track

router = APIRouter(tags=["devices"], dependencies=[RECORDED])  # positions, tracks: on record


def get_feed(request: Request) -> PositionFeed:
    feed: PositionFeed = request.app.state.feed
    return feed


Feed = Annotated[PositionFeed, Depends(get_feed)]


class GeoJSONResponse(Response):
    media_type = "application/geo+json"


DeviceId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


@router.get(
    "/devices",
    summary="Every device's latest position and state",
    response_model=list[Device],
    responses=NOT_MODIFIED,
)
def list_devices(request: Request, context: Context, principal: Auth, polls: Polls) -> Response:
    """From live state (no scan of the pings stored), answered from the bytes serialised
    once per live snapshot, registry and scope; ``If-None-Match`` with the ETag: a 304."""
    tz = context.geofence.tz
    live = context.live
    if live is None:  # no live state here (no grids, a standby stage, an ingest worker)
        positions = stored_positions(context.store)
        return answer(request, body_of(devices_json(positions, principal, tz)))
    snapshot = live.snapshot()
    registry = polls.registry(context.store)
    body = polls.body(
        ("devices", principal.grids),
        (snapshot, registry),
        lambda: devices_json(live_positions(snapshot, registry), principal, tz),
    )
    return answer(request, body)


@router.get(
    "/devices/stream",
    summary="Live changes as Server-Sent Events (event: positions, data: a JSON array of "
    "the devices that changed, as GET /devices shows them; event: grids, data: a JSON array "
    "of the grids whose status, last visit or overdue_since changed)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}},
)
async def stream_positions(
    request: Request, context: Context, principal: Auth, feed: Feed
) -> StreamingResponse:
    try:
        queue = feed.subscribe(principal)
    except StreamLimit as exc:
        raise ApiError(429, f"{exc}: close one first") from None
    keepalive = context.settings.sse_keepalive_s
    # a revoked token's stream ends within the tokens file's reload period
    wake = min(keepalive, context.settings.tokens_reload_s)

    async def events() -> AsyncIterator[bytes]:
        try:
            yield b": connected\n\n"  # at once: from here on every change comes
            quiet_since = time.monotonic()
            while True:
                if revoked(context, principal):
                    yield b": token revoked\n\n"
                    return
                try:  # a timer, not a task per message (asyncio.wait_for's): 1,000 streams
                    async with asyncio.timeout(wake):
                        message = await queue.get()
                except TimeoutError:  # idle: a client gone is found here, a busy one by send
                    if await request.is_disconnected():
                        return
                    if time.monotonic() - quiet_since >= keepalive:
                        yield b": keep-alive\n\n"
                        quiet_since = time.monotonic()
                    continue
                yield message  # the same bytes for every stream of the scope
                quiet_since = time.monotonic()
        finally:
            feed.unsubscribe(queue)

    return EventStream(events(), lambda: feed.unsubscribe(queue))


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
    datum: Annotated[
        Literal["wgs84", "gcj02", "bd09"],
        Query(description="the positions' datum: gcj02 to open on Amap, bd09 on Baidu"),
    ] = "wgs84",
) -> Response:
    known, grid_id = _assigned_grid(context, device_id)
    if principal.grids is not None and not principal.sees_grid(grid_id):
        raise ApiError(403, f"device {device_id!r} is outside your grids")
    track = read_track(context.store, device_id, window.start, window.end)
    if not known and track.height == 0:
        raise ApiError(404, f"no device {device_id!r}")
    if context.settings.off_duty == "hide" and principal.role != "admin":
        track = on_duty_only(context.store, device_id, track, context.geofence.tz)
    name = f"{device_id}-{window.start:%Y%m%dT%H%M}"
    if datum != Datum.WGS84:  # stored as WGS-84: shifted on the way out (docs/datums.md)
        lon, lat = from_wgs84(Datum(datum), track["lon"].to_numpy(), track["lat"].to_numpy())
        track = track.with_columns(lon=pl.Series(lon), lat=pl.Series(lat))
        name += f"-{datum}"
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
