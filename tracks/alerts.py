"""Named reads of the ``alerts`` table, as polars DataFrames."""

from __future__ import annotations

import datetime as dt

import polars as pl

from tracks.store import Store


def read_alerts(
    store: Store, since: dt.datetime, limit: int, grids: frozenset[str] | None = None
) -> pl.DataFrame:
    """Alerts raised at or after ``since``, newest first, at most ``limit``; with ``grids``,
    only those whose grid (or whose device's assigned grid) is one of them, the limit
    applied after that filter.

    Columns: the ``alerts`` table's, and device_grid (the assigned grid of a device alert's
    device, for access checks).
    """
    sql = (
        "SELECT a.*, d.grid_id AS device_grid FROM alerts a "
        "LEFT JOIN devices d ON d.device_id = a.device_id WHERE a.raised_at >= ? "
    )
    params: list[object] = [since]
    if grids is not None:
        sql += "AND coalesce(a.grid_id, d.grid_id) IN (SELECT unnest(?::VARCHAR[])) "
        params.append(sorted(grids))
    return store.read(sql + "ORDER BY a.raised_at DESC LIMIT ?", [*params, limit])


def count_alerts(store: Store) -> int:
    """Rows in ``alerts``."""
    row = store.read_one("SELECT count(*) FROM alerts")
    return int(row[0]) if row else 0


def read_alerts_since(store: Store, since: dt.datetime) -> pl.DataFrame:
    """Alerts raised at or after ``since``, oldest first (by raised_at, then alert_id).

    Columns: the ``alerts`` table's.
    """
    return store.read(
        "SELECT * FROM alerts WHERE raised_at >= ? ORDER BY raised_at, alert_id", [since]
    )


def read_unpublished_alerts(store: Store, since: dt.datetime) -> pl.DataFrame:
    """Alerts raised at or after ``since`` that ``alerts_published`` does not record, oldest
    first (by raised_at, then alert_id). Columns: the ``alerts`` table's."""
    return store.read(
        "SELECT * FROM alerts a WHERE raised_at >= ? AND NOT EXISTS ("
        "SELECT 1 FROM alerts_published p WHERE p.alert_id = a.alert_id) "
        "ORDER BY raised_at, alert_id",
        [since],
    )


def read_published_ids(store: Store, alert_ids: list[str]) -> set[str]:
    """Which of these alert ids ``alerts_published`` records."""
    if not alert_ids:
        return set()
    rows = store.read_rows(
        "SELECT DISTINCT alert_id FROM alerts_published WHERE alert_id IN (SELECT unnest(?))",
        [alert_ids],
    )
    return {r[0] for r in rows}
