"""The read path: every named read of ``tracks/`` goes through it.

:class:`Reads` gives :class:`tracks.store.Store` (and so the lake's store) its reads:
``read`` (a polars frame), ``read_rows``, ``read_one``, each on a cursor of its own, and
``snapshot()`` for several reads in one transaction; ``probe()`` for /health. A
:class:`Reader` runs them on its cursor: it registers the frames a query joins with for that
query only, and turns every engine error into a :class:`tracks.errors.StoreError` (one line,
no password). A caller never sees ``duckdb.Error``, and ``except StoreError`` is enough.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from tracks.errors import engine_errors

#: Frames a query reads by name (registered as views for that query only).
Frames = Mapping[str, pl.DataFrame]

#: One row of a result, as DuckDB gives it.
Row = tuple[Any, ...]


class Reader:
    """Reads on one cursor; ``where`` names the store in error messages."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection, where: str) -> None:
        self._cursor = cursor
        self.where = where

    @contextmanager
    def _run(
        self, sql: str, params: list[object] | None, frames: Frames | None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """The cursor with ``sql`` executed and ``frames`` registered until the block ends
        (the result is fetched inside it)."""
        names: list[str] = []
        with engine_errors(f"read of {self.where} failed"):
            try:
                for name, frame in (frames or {}).items():
                    self._cursor.register(name, frame)
                    names.append(name)
                yield self._cursor.execute(sql, params or [])
            finally:
                for name in names:
                    self._cursor.unregister(name)

    def frame(
        self, sql: str, params: list[object] | None = None, *, frames: Frames | None = None
    ) -> pl.DataFrame:
        """The result as a polars frame."""
        with self._run(sql, params, frames) as cur:
            return cur.pl()

    def rows(
        self, sql: str, params: list[object] | None = None, *, frames: Frames | None = None
    ) -> list[Row]:
        """The result as a list of rows."""
        with self._run(sql, params, frames) as cur:
            return cur.fetchall()

    def one(
        self, sql: str, params: list[object] | None = None, *, frames: Frames | None = None
    ) -> Row | None:
        """The result's first row, or None without rows."""
        with self._run(sql, params, frames) as cur:
            return cur.fetchone()

    def execute(self, sql: str) -> None:
        """A statement without result (``BEGIN TRANSACTION``, ``ROLLBACK``)."""
        with self._run(sql, None, None):
            pass


class Reads:
    """The reads of a store; the store gives :meth:`cursor` (its engine's) and ``path``."""

    path: Path

    #: What :meth:`probe` reads (the lake's reads its catalog).
    PROBE_SQL = "SELECT 1"

    def cursor(self) -> duckdb.DuckDBPyConnection:
        raise NotImplementedError

    def probe(self) -> None:
        """Raise :class:`tracks.errors.StoreError` unless the store answers a read."""
        self.read_one(self.PROBE_SQL)

    @contextmanager
    def _reader(self, *, transaction: bool = False) -> Iterator[Reader]:
        cur = self.cursor()
        try:
            reader = Reader(cur, str(self.path))
            if transaction:
                reader.execute("BEGIN TRANSACTION")
            yield reader
        finally:
            with suppress(duckdb.Error):
                if transaction:
                    cur.execute("ROLLBACK")  # a read transaction: nothing to keep
                cur.close()

    def read(
        self, sql: str, params: list[object] | None = None, *, frames: Frames | None = None
    ) -> pl.DataFrame:
        """One query on a cursor of its own, as a polars frame; each of ``frames`` is a view
        of that name for this query only. Any engine error is a StoreError."""
        with self._reader() as reader:
            return reader.frame(sql, params, frames=frames)

    def read_rows(
        self, sql: str, params: list[object] | None = None, *, frames: Frames | None = None
    ) -> list[Row]:
        """As :meth:`read`, the rows as tuples."""
        with self._reader() as reader:
            return reader.rows(sql, params, frames=frames)

    def read_one(
        self, sql: str, params: list[object] | None = None, *, frames: Frames | None = None
    ) -> Row | None:
        """As :meth:`read`, the first row (None without rows)."""
        with self._reader() as reader:
            return reader.one(sql, params, frames=frames)

    @contextmanager
    def snapshot(self) -> Iterator[Reader]:
        """A :class:`Reader` whose reads all see one snapshot of the store (one read
        transaction, ended with the block)."""
        with self._reader(transaction=True) as reader:
            yield reader
