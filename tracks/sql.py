"""Statements that read a polars frame as a view, in a write transaction (the write path's
helpers; the read path registers frames through :class:`tracks.reader.Reader`)."""

from __future__ import annotations

import duckdb
import polars as pl


def execute_with(
    con: duckdb.DuckDBPyConnection,
    name: str,
    frame: pl.DataFrame,
    *sql: str,
    params: list[object] | None = None,
) -> int:
    """Run each statement of ``sql`` with ``frame`` registered as the view ``name``; returns
    the count row of the last (the rows an INSERT added)."""
    con.register(name, frame)
    try:
        row = None
        for statement in sql:
            row = con.execute(statement, params or []).fetchone()
        return int(row[0]) if row else 0
    finally:
        con.unregister(name)


def select_with(
    con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame, sql: str, params: list[object]
) -> pl.DataFrame:
    """Run one query with ``frame`` registered as ``name``; its result as a frame."""
    con.register(name, frame)
    try:
        return con.execute(sql, params).pl()
    finally:
        con.unregister(name)
