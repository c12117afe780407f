"""Named reads of the ``alerts`` table, as polars DataFrames."""

from __future__ import annotations

import datetime as dt

import polars as pl

from tracks.store import Store


def read_alerts(store: Store, since: dt.datetime, limit: int) -> pl.DataFrame:
    """Alerts raised at or after ``since``, newest first, at most ``limit``.

    Columns: the ``alerts`` table's, and device_grid (the assigned grid of a device alert's
    device, for access checks).
    """
    return (
        store.cursor()
        .execute(
            "SELECT a.*, d.grid_id AS device_grid FROM alerts a "
            "LEFT JOIN devices d ON d.device_id = a.device_id "
            "WHERE a.raised_at >= ? ORDER BY a.raised_at DESC LIMIT ?",
            [since, limit],
        )
        .pl()
    )


def count_alerts(store: Store) -> int:
    """Rows in ``alerts``."""
    row = store.cursor().execute("SELECT count(*) FROM alerts").fetchone()
    return int(row[0]) if row else 0
