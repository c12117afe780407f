"""Which leaf grid holds each point."""

from __future__ import annotations

import numpy as np
import polars as pl

from geofence._raster import assign_points
from geofence.grids import GridSet


def assign(grid_set: GridSet, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Index into ``grid_set.ids`` of the first-listed leaf covering each point; -1 outside."""
    lon = np.ascontiguousarray(lon, dtype=np.float64)
    lat = np.ascontiguousarray(lat, dtype=np.float64)
    out = np.empty(len(lon), dtype=np.int32)
    s = grid_set
    assign_points(
        lon=lon, lat=lat, rings=s.rings, candidates=s.candidates, grid_raster=s.raster, out=out
    )
    return out


def assign_ids(grid_set: GridSet, lon: np.ndarray, lat: np.ndarray) -> pl.Series:
    """Grid ids as a String column, null outside every grid: the ``pings.grid_id`` column."""
    index = assign(grid_set, lon, lat)
    ids = pl.Series("grid_id", [*grid_set.ids, None], dtype=pl.String)
    return ids.gather(np.where(index < 0, len(grid_set.ids), index))
