"""Named reads of the ``grids`` table, as polars DataFrames."""

from __future__ import annotations

import polars as pl

from tracks.schema import GRIDS
from tracks.store import Store


def read_grid_rows(store: Store, *, geometry: bool = True) -> pl.DataFrame:
    """Every stored grid in file order (the ``grids`` table's columns, without
    ``geometry`` when not asked for: a district's is most of the table); empty when none."""
    names = [n for n in GRIDS.names if geometry or n != "geometry"]
    frame = store.read(f"SELECT {', '.join(names)} FROM grids ORDER BY position")
    return frame.cast({n: GRIDS.schema[n] for n in names})


def grids_digest(store: Store) -> str:
    """An MD5 of every stored grid's row, geometry included: it changes with any import
    that changes a grid (the derived data's fingerprint)."""
    row = store.read_one(
        "SELECT md5(coalesce(string_agg(concat_ws('|', grid_id, position, name, parent, "
        "is_leaf, interval_s, service_hours, geometry), chr(10) ORDER BY position), '')) "
        "FROM grids"
    )
    return str(row[0]) if row else ""
