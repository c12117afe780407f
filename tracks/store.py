"""The DuckDB file: one writer connection owned here, cursors for readers.

The storage interface
---------------------
Nothing outside ``tracks/`` speaks SQL or sees a connection. The rest of gridpatrol uses:

* :class:`Store` (this module): ``Store(path, read_only=...)``, ``close()``, ``probe()``
  (raises :class:`StoreError` when unreadable), the reads (``read``, ``read_rows``,
  ``read_one``, ``snapshot()``: the one path of every named read, :mod:`tracks.reader`)
  and the writes, one method each:
  ``write_batch`` (pings, rejections, device events and counters of one flush, in one
  transaction, through a :class:`tracks.writer.PingWriter`: serve builds its own and writes
  through it), ``write_alerts``, ``write_published`` (the alerts' outbox),
  ``replace_grids``, ``upsert_devices``. Each takes polars
  frames of the table's schema (:mod:`tracks.schema`).
* named reads that return polars frames (or plain values for scalars and the live state's
  start-up maps): :mod:`tracks.queries` (pings, counters, the live state's start-up),
  :mod:`tracks.devices` (the registry), :mod:`tracks.grids`, :mod:`tracks.alerts`.

Every failure of the engine, read or write, is a :class:`StoreError` (one line, no password:
:mod:`tracks.errors`). A DuckLake store (PostgreSQL catalog, Parquet files) for several
ingest workers implements the same methods and reads; ``cursor()`` and ``transaction()`` are
this engine's own, used by the reads' and writes' own machinery (and by tests and the bench,
which build files directly).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import duckdb
import polars as pl

from tracks.errors import StoreError, engine_errors, one_line
from tracks.reader import Reads
from tracks.reflag import Flagging
from tracks.schema import (
    ALERTS,
    ALERTS_PUBLISHED,
    COUNTERS,
    DERIVED_CELLS,
    DERIVED_GRID_CELLS,
    DERIVED_TIME,
    DERIVED_VISITS,
    DEVICE_DATUMS,
    DEVICE_EVENTS,
    DEVICES,
    GRIDS,
    PING_CHANGES,
    PING_COLUMNS,
    REJECTED,
    SCHEMA_VERSION,
    TABLES,
    Table,
)
from tracks.sql import execute_with
from tracks.writer import PingWriter, StoredBatch

log = logging.getLogger("gridpatrol.store")

#: A write-ahead log this large is checkpointed by force. DuckDB checkpoints by itself when
#: the log passes 16 MB; 1.4 skipped that while other transactions ran, so with readers busy
#: (the API, the live state) the log and the memory holding its rows grew without end. 1.5.5
#: checkpoints beside a reader's open transaction (seen: the log kept below 16 MB), so this
#: is a backstop should an automatic checkpoint not happen. ``FORCE CHECKPOINT`` waits for
#: running transactions and holds new ones back meanwhile.
WAL_FORCE_CHECKPOINT_BYTES = 64 * 1024 * 1024

#: The schema version that added ``alerts_published``.
OUTBOX_VERSION = 3

#: The schema version that added the pings columns ``sat`` and ``alarm``.
GNSS_VERSION = 5

#: The polars schemas of the frames the writes take (declared once in tracks.schema).
REJECTED_SCHEMA = REJECTED.schema
ALERTS_SCHEMA = ALERTS.schema
EVENTS_SCHEMA = DEVICE_EVENTS.schema


#: ``ping_changes`` counts pings per quarter-hour of fix time (local midnights everywhere
#: fall on a quarter-hour of UTC, so a day is a whole number of quarters).
QUARTER_US = 900_000_000


class Store(Reads):
    """Owns the DuckDB connection. Thread-safe: writes are serialised by a lock; every read
    takes a cursor of its own (:class:`tracks.reader.Reads`)."""

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._writer: PingWriter | None = None  # write_batch's
        self._con = self._connect(read_only)
        try:
            self._con.execute("SET GLOBAL TimeZone = 'UTC'")  # for every cursor too
            self._con.execute("SET enable_progress_bar = false")  # no bars in serve's output
            if read_only:
                self._check_schema()
            else:
                self._apply_schema()
        except duckdb.Error as exc:
            self._con.close()
            raise StoreError(f"cannot open {self.path}: {one_line(exc)}") from exc
        except StoreError:
            self._con.close()
            raise

    def _connect(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        with engine_errors(f"cannot open {self.path}"):
            return duckdb.connect(str(self.path), read_only=read_only)

    #: The DDL applied on open (the lake's leaves out what DuckLake cannot express).
    DDL = TABLES

    def _apply_schema(self) -> None:
        self._con.execute(self.DDL)
        version = self._schema_version()
        if version is not None:
            self._refuse_newer(version)
        if version is None or version < SCHEMA_VERSION:  # older: its new tables were created
            with self.transaction() as con:
                if version is not None and version < OUTBOX_VERSION:
                    # the versions before published every alert they raised (at most once):
                    # recorded as published, an upgrade publishes none of them again
                    con.execute("INSERT INTO alerts_published SELECT alert_id, now() FROM alerts")
                if version is not None and version < GNSS_VERSION:
                    # appended, as PING_COLUMNS lists them last; NULL in every row stored
                    for column in ("sat", "alarm"):
                        sql = next(c.ddl for c in PING_COLUMNS if c.name == column)
                        con.execute(f"ALTER TABLE pings ADD COLUMN IF NOT EXISTS {sql}")
                con.execute("INSERT INTO schema_version VALUES (?)", [SCHEMA_VERSION])

    def _check_schema(self) -> None:
        found = self._con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'schema_version'"
        ).fetchone()
        version = self._schema_version() if found and found[0] else None
        if version is None:
            raise StoreError(f"{self.path} is not a gridpatrol database (no schema_version)")
        self._refuse_newer(version)

    def _schema_version(self) -> int | None:
        row = self._con.execute("SELECT max(version) FROM schema_version").fetchone()
        return row[0] if row else None

    def _refuse_newer(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {version}, newer than this gridpatrol "
                f"({SCHEMA_VERSION}); upgrade gridpatrol"
            )

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A reader cursor on the same database (DuckDB allows one writing process): for the
        reads (:class:`tracks.reader.Reads`) and tests, which build files directly; never
        handed further. Its time zone is UTC, set once for every cursor on open."""
        with engine_errors(f"cannot read {self.path}"):
            return self._con.cursor()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One write transaction on the writer connection; rolled back on any error."""
        with self._lock:
            con = self._con
            try:
                con.execute("BEGIN TRANSACTION")
                yield con
                con.execute("COMMIT")
            except duckdb.Error as exc:
                with suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                # one line: DuckDB's messages span several, a log line should not
                raise StoreError(f"write to {self.path} failed: {one_line(exc)}") from exc
            except BaseException:
                with suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                raise

    #: Whether this process is the only writer of the pings (a DuckDB file: one writing
    #: process): a late fix's walk then updates the stored rows after it (tracks.writer).
    SOLE_WRITER = True

    def write_batch(
        self,
        pings: pl.DataFrame,
        rejected: pl.DataFrame,
        counters: dict[str, int],
        events: pl.DataFrame | None = None,
        *,
        flagging: Flagging | None = None,
    ) -> StoredBatch:
        """Store one flush through the store's own :class:`tracks.writer.PingWriter` (see
        :meth:`PingWriter.write`), for tests and tools; serve's ingest writes through the
        one its composition root builds, never through this. Another ``flagging`` than the
        last call's makes a new writer (with no memory: it reads what it needs)."""
        if self._writer is None or self._writer.flagging is not flagging:
            self._writer = PingWriter(self, flagging)
        return self._writer.write(pings, rejected, counters, events)

    def add_counters(self, con: duckdb.DuckDBPyConnection, increments: dict[str, int]) -> None:
        """Add increments to ``counters`` (those of 0 left out), in the caller's transaction."""
        counts = {k: v for k, v in increments.items() if v}
        if counts:
            frame = pl.DataFrame(
                {"name": list(counts), "value": list(counts.values())},
                schema={"name": pl.String, "value": pl.Int64},
            )
            self._increment(con, COUNTERS, frame)

    def _increment(self, con: duckdb.DuckDBPyConnection, table: Table, frame: pl.DataFrame) -> None:
        """Add increments (key, value) to a table of counts keyed by its first column, in
        the caller's transaction."""
        key, value = (c.name for c in table.columns)
        execute_with(
            con,
            "increments",
            frame,
            f"INSERT INTO {table.name} SELECT * FROM increments "
            f"ON CONFLICT ({key}) DO UPDATE SET {value} = {value} + excluded.{value}",
        )

    def mark_changed(self, con: duckdb.DuckDBPyConnection, ts: pl.Series) -> None:
        """Count pings stored or removed with these fix times in ``ping_changes``, in the
        caller's transaction: the derived days over them are no longer current."""
        if ts.len() == 0:
            return
        frame = (
            (ts.dt.epoch("us") // QUARTER_US)
            .alias("quarter")
            .value_counts(name="changes")
            .cast({"quarter": pl.Int64, "changes": pl.Int64})
        )
        self._increment(con, PING_CHANGES, frame)

    def replace_derived_day(
        self,
        day: dt.date,
        through: dt.datetime,
        fingerprint: str,
        changes: int,
        facts: dict[str, pl.DataFrame],
    ) -> None:
        """Replace one day's derived rows (``facts``: table name -> rows of its schema, of
        [the day's start, through)) and record them as derived from ``changes``
        (ping_changes summed over what they depend on), in one transaction."""
        with self.transaction() as con:
            for table in (DERIVED_VISITS, DERIVED_TIME, DERIVED_CELLS):
                con.execute(f"DELETE FROM {table.name} WHERE day = ?", [day])
                rows = facts[table.name].select(table.names).cast(table.schema)
                if rows.height:
                    execute_with(
                        con, "facts", rows, f"INSERT INTO {table.name} SELECT * FROM facts"
                    )
            con.execute("DELETE FROM derived_days WHERE day = ?", [day])
            con.execute(
                "INSERT INTO derived_days VALUES (?, ?, ?, ?, now())",
                [day, through, fingerprint, changes],
            )

    def replace_grid_cells(self, rows: pl.DataFrame) -> None:
        """Replace every leaf's coverage cells (the ``derived_grid_cells`` schema)."""
        with self.transaction() as con:
            execute_with(
                con,
                "cells",
                rows.select(DERIVED_GRID_CELLS.names).cast(DERIVED_GRID_CELLS.schema),
                "DELETE FROM derived_grid_cells",
                "INSERT INTO derived_grid_cells SELECT * FROM cells",
            )

    def write_alerts(self, alerts: pl.DataFrame) -> None:
        """Append alerts (ALERTS_SCHEMA); an alert id already stored is kept as it was."""
        with self.transaction() as con:
            execute_with(
                con,
                "new_alerts",
                alerts.select(list(ALERTS_SCHEMA.names())),
                "INSERT OR IGNORE INTO alerts SELECT * FROM new_alerts",
            )

    def write_published(self, alert_ids: list[str]) -> None:
        """Record these stored alerts as published (append-only: a repeated id is harmless)."""
        if not alert_ids:
            return
        frame = pl.DataFrame(
            {"alert_id": alert_ids, "published_at": [dt.datetime.now(dt.UTC)] * len(alert_ids)},
            schema=ALERTS_PUBLISHED.schema,
        )
        with self.transaction() as con:
            execute_with(
                con, "published", frame, "INSERT INTO alerts_published SELECT * FROM published"
            )

    def replace_grids(self, grids: pl.DataFrame) -> None:
        """Replace every stored grid with these rows (the ``grids`` table's schema)."""
        with self.transaction() as con:
            execute_with(
                con,
                "grid_rows",
                grids.select(GRIDS.names).cast(GRIDS.schema),
                "DELETE FROM grids",
                "INSERT INTO grids SELECT * FROM grid_rows",
            )

    def upsert_devices(self, devices: pl.DataFrame) -> None:
        """Insert these registry rows, replacing a stored device with the same id."""
        with self.transaction() as con:
            execute_with(
                con,
                "devices_rows",
                devices.select(DEVICES.names).cast(DEVICES.schema),
                "INSERT OR REPLACE INTO devices SELECT * FROM devices_rows",
            )

    def upsert_device_datums(self, datums: pl.DataFrame) -> None:
        """Replace the stored datums of these device ids (delete, then insert: the same on
        a file and a lake, which has no keys)."""
        with self.transaction() as con:
            execute_with(
                con,
                "datum_rows",
                datums.select(DEVICE_DATUMS.names).cast(DEVICE_DATUMS.schema),
                "DELETE FROM device_datums WHERE device_id IN (SELECT device_id FROM datum_rows)",
                "INSERT INTO device_datums SELECT * FROM datum_rows",
            )

    def _wal_bytes(self) -> int:
        try:
            return os.path.getsize(f"{self.path}.wal")
        except FileNotFoundError:
            return 0

    def checkpoint(self) -> None:
        """Checkpoint now (after a purge: the blocks of the deleted rows are freed, and the
        write-ahead log holding them emptied). Waits for running reads."""
        with self._lock, engine_errors(f"checkpoint of {self.path} failed"):
            self._con.execute("FORCE CHECKPOINT")

    def checkpoint_if_due(self) -> None:
        """Checkpoint when automatic checkpoints have been held off too long. The batch is
        committed already: a failure here is logged, and the next write tries again."""
        if self._wal_bytes() < WAL_FORCE_CHECKPOINT_BYTES:
            return
        with self._lock:
            try:
                self._con.execute("FORCE CHECKPOINT")
            except duckdb.Error as exc:
                log.warning("checkpoint of %s failed, will retry: %s", self.path, exc)
