"""The live map's base map: what it is (``/tiles``) and its tiles (``/tiles/{z}/{x}/{y}``),
read from the tile file or fetched from the tile service by serve (api/tiles.py)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel

from api.deps import Auth, Context
from api.errors import ApiError
from api.tiles import TileUpstreamError, in_range

router = APIRouter(tags=["map"])


class BaseMap(BaseModel):
    source: str | None  # "file", "proxy" or None (no base map: the map as it always was)
    datum: str  # the base map's datum; the overlay is shifted into it
    min_zoom: int
    max_zoom: int


@router.get("/tiles", response_model=BaseMap)
def base_map(context: Context, _principal: Auth) -> BaseMap:
    """The base map under the live map, if any: its source kind (never its URL), datum and
    zoom levels."""
    tiles = context.tiles
    return BaseMap(
        source=None if tiles is None else tiles.kind,
        datum=context.settings.tiles_datum,
        min_zoom=0 if tiles is None else tiles.min_zoom,
        max_zoom=0 if tiles is None else tiles.max_zoom,
    )


@router.get(
    "/tiles/{z}/{x}/{y}",
    response_class=Response,
    responses={200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}}},
)
async def tile(z: int, x: int, y: int, context: Context, _principal: Auth) -> Response:
    """One raster tile (XYZ: y counted from the north); 404 where the base map has none."""
    if context.tiles is None:
        raise ApiError(404, "no base map: serve runs without --tiles or --tiles-file")
    if not in_range(z, x, y):
        raise ApiError(404, f"no tile {z}/{x}/{y}: outside the zoom level's tiles")
    try:  # a file read or an upstream fetch: off the event loop
        found = await run_in_threadpool(context.tiles.get, z, x, y)
    except TileUpstreamError as exc:
        raise ApiError(502, str(exc)) from None
    if found is None:
        raise ApiError(404, f"no tile {z}/{x}/{y} in the base map")
    return Response(found.data, media_type=found.media_type)
