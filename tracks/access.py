"""The access log (``access_log``): its one write and its named read.

Every read of a track, the positions, an export or a report through the API is one row
(docs/storage.md). The table is append-only on both engines: nothing but
:func:`write_access` writes it, and no route or command alters or deletes its rows.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from tracks.schema import ACCESS_LOG
from tracks.sql import execute_with
from tracks.store import Store


def write_access(store: Store, records: pl.DataFrame) -> None:
    """Append access records (the ``access_log`` schema), in one transaction."""
    if records.height == 0:
        return
    frame = records.select(ACCESS_LOG.names).cast(ACCESS_LOG.schema)
    with store.transaction() as con:
        execute_with(con, "access_rows", frame, "INSERT INTO access_log SELECT * FROM access_rows")


def read_access(store: Store, since: dt.datetime, limit: int | None = None) -> pl.DataFrame:
    """Access records at or after ``since``, oldest first, at most ``limit`` (None: all).

    Columns: the ``access_log`` table's. A database created before the table existed (opened
    read-only, so not upgraded) has none: an empty frame.
    """
    found = store.read_one("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'access_log'")
    if not found or not found[0]:
        return ACCESS_LOG.empty()
    sql = "SELECT * FROM access_log WHERE ts >= ? ORDER BY ts"
    if limit is None:
        return store.read(sql, [since])
    return store.read(sql + " LIMIT ?", [since, limit])
