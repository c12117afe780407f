"""Grids in the database: the ``grids`` table is written on import and read by every stage."""

from __future__ import annotations

import json

import polars as pl
import shapely
from shapely.geometry import mapping, shape

from geofence.grids import Grid, GridSet, build_grid_set
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
        schema_overrides={"parent": pl.String, "service_hours": pl.String, "position": pl.Int32},
    )
    with store.transaction() as con:
        con.execute("DELETE FROM grids")
        con.register("grid_rows", frame)
        con.execute("INSERT INTO grids SELECT * FROM grid_rows")
        con.unregister("grid_rows")


def read_grids(store: Store) -> GridSet | None:
    """The stored grids, indexed; None when no grids were imported."""
    rows = (
        store.cursor()
        .execute(
            "SELECT grid_id, name, parent, interval_s, service_hours, geometry "
            "FROM grids ORDER BY position"
        )
        .fetchall()
    )
    if not rows:
        return None
    grids = []
    for gid, name, parent, interval_s, hours, geometry in rows:
        geo = json.loads(geometry)
        geom = shape(geo) if geo is not None else None
        if geom is not None:
            shapely.prepare(geom)
        grids.append(Grid(gid, name, parent, interval_s, hours, geom))
    return build_grid_set(grids)
