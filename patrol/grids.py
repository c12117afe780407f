"""Grids in the database: the ``grids`` table is written on import and read by every stage."""

from __future__ import annotations

import json
from typing import Any

import polars as pl
import shapely
from shapely.geometry import mapping, shape

from geofence.grids import GridSet, build_grid_set
from geofence.shapes import Grid
from tracks.grids import read_grid_rows
from tracks.schema import GRIDS
from tracks.store import Store


def save_grids(store: Store, grids: list[Grid]) -> None:
    """Replace the stored grids with these, in file order."""
    parents = {g.parent for g in grids if g.parent is not None}
    frame = pl.DataFrame(
        {
            "grid_id": [g.id for g in grids],
            "position": list(range(len(grids))),
            "name": [g.name for g in grids],
            "parent": [g.parent for g in grids],
            "is_leaf": [g.id not in parents for g in grids],
            "interval_s": [g.interval_s for g in grids],
            "service_hours": [g.service_hours for g in grids],
            "geometry": [
                json.dumps(mapping(g.geometry)) if g.geometry is not None else "null" for g in grids
            ],
        },
        schema=GRIDS.schema,
    )
    store.replace_grids(frame)


def read_grids(store: Store) -> GridSet | None:
    """The stored grids, indexed; None when no grids were imported."""
    rows = read_grid_rows(store)
    if rows.height == 0:
        return None
    return build_grid_set(grids_from_rows(rows))


def grids_from_rows(rows: pl.DataFrame) -> list[Grid]:
    """Grids from rows of the ``grids`` table, their shapes prepared."""
    grids = []
    for row in rows.iter_rows(named=True):
        geom = None
        if (geo := json.loads(row["geometry"])) is not None:
            geom = shape(geo)
            shapely.prepare(geom)
        grids.append(
            Grid(
                row["grid_id"],
                row["name"],
                row["parent"],
                row["interval_s"],
                row["service_hours"],
                geom,
            )
        )
    return grids


def read_geometries(store: Store) -> dict[str, Any]:
    """Each stored grid's geometry as GeoJSON (a dict, or None), as imported."""
    rows = read_grid_rows(store)
    return {gid: json.loads(text) for gid, text in rows.select("grid_id", "geometry").iter_rows()}
