"""Named reads of the ``grids`` table, as polars DataFrames."""

from __future__ import annotations

import polars as pl

from tracks.schema import GRIDS
from tracks.store import Store


def read_grid_rows(store: Store) -> pl.DataFrame:
    """Every stored grid in file order (the ``grids`` table's columns); empty when none."""
    frame = store.cursor().execute("SELECT * FROM grids ORDER BY position").pl()
    return frame.cast(GRIDS.schema)
