"""The DuckDB file: one writer connection owned here, cursors for readers.

The storage interface
---------------------
Nothing outside ``tracks/`` speaks SQL or sees a connection. The rest of gridpatrol uses:

* :class:`Store` (this module): ``Store(path, read_only=...)``, ``close()``, ``probe()``
  (raises :class:`StoreError` when unreadable), the reads (``read``, ``read_rows``,
  ``read_one``, ``snapshot()``: the one path of every named read, :mod:`tracks.reader`)
  and the writes, one method each:
  ``write_batch`` (pings, rejections, device events and counters of one flush, in one
  transaction), ``write_alerts``, ``write_published`` (the alerts' outbox),
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

import collections
import datetime as dt
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from tracks.errors import StoreError, engine_errors, one_line
from tracks.reader import Reads
from tracks.reflag import Flagging, NewestFixes, rewalk_late, update_flags
from tracks.schema import (
    ALERTS,
    ALERTS_PUBLISHED,
    COUNTERS,
    DERIVED_CELLS,
    DERIVED_GRID_CELLS,
    DERIVED_TIME,
    DERIVED_VISITS,
    DEVICE_EVENTS,
    DEVICES,
    GRIDS,
    PING_CHANGES,
    REJECTED,
    SCHEMA_VERSION,
    TABLES,
    Table,
)

log = logging.getLogger("gridpatrol.store")

#: A write-ahead log this large is checkpointed by force. DuckDB 1.4 skips its automatic
#: checkpoint (at 16 MB) while other transactions run, so with readers busy (the API, the
#: live state) the log and the memory holding its rows would grow without end.
#: ``FORCE CHECKPOINT`` waits for running transactions and holds new ones back meanwhile.
WAL_FORCE_CHECKPOINT_BYTES = 64 * 1024 * 1024

#: The schema version that added ``alerts_published``.
OUTBOX_VERSION = 3

#: The polars schemas of the frames the writes take (declared once in tracks.schema).
REJECTED_SCHEMA = REJECTED.schema
ALERTS_SCHEMA = ALERTS.schema
EVENTS_SCHEMA = DEVICE_EVENTS.schema


#: The keys of about this many recently written pings are kept in memory: a redelivered
#: window (a reconnect's, whose rows were committed but not acknowledged) is found there
#: without reading the table. The receive window (10,000 messages) of 50-ping messages.
RECENT_KEYS = 500_000

#: ``ping_changes`` counts pings per quarter-hour of fix time (local midnights everywhere
#: fall on a quarter-hour of UTC, so a day is a whole number of quarters).
QUARTER_US = 900_000_000


@dataclass(frozen=True)
class WriteResult:
    stored: int
    duplicates: int
    flags: np.ndarray | None = None  # with ``flagging``: each row's flags as stored (0
    # for a row not stored: a repeat of a stored fix)
    new: np.ndarray | None = None  # per row: stored by this write (else a repeat)


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


class Store(Reads):
    """Owns the DuckDB connection. Thread-safe: writes are serialised by a lock; every read
    takes a cursor of its own (:class:`tracks.reader.Reads`)."""

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._newest = NewestFixes()  # each device's newest stored fix
        self._recent: collections.deque[pl.DataFrame] = collections.deque()  # (device_id, ts)
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

    #: Whether a batch with late fixes re-walks its devices' stored fixes and updates their
    #: flags. The lake's workers append only: its stage re-walks, in the change feed's order.
    REWALKS = True

    def write_batch(
        self,
        pings: pl.DataFrame,
        rejected: pl.DataFrame,
        counters: dict[str, int],
        events: pl.DataFrame | None = None,
        *,
        flagging: Flagging | None = None,
    ) -> WriteResult:
        """Store one flush: pings (duplicates of stored ones skipped), rejections, counters.

        ``pings`` must hold no two rows with the same (device_id, ts), and with
        ``flagging``, be grouped by device and sorted by ts within each (as ingest's prepare
        sorts them): their flags are then set here, in the transaction, in fix-time order
        with the device's stored fixes (docs/rules.md, "Flags"); a late fix's device has
        the flags of its stored fixes after it updated where they change (tracks.reflag).
        Without it the flags are stored as given.

        ``counters`` are increments; ``stored`` and ``duplicates`` are added here from what
        the insert really did, in the same transaction.
        """
        newer = self._split_by_newest(pings)
        maybe = pings.with_row_index("row").filter(~newer)
        if maybe.height and self._recent:  # a redelivery: found among the recent batches
            recent = pl.concat(self._recent)
            maybe = maybe.join(recent, on=["device_id", "ts"], how="anti", maintain_order="left")
        flags: np.ndarray | None = None
        with self.transaction() as con:
            new = newer.to_numpy().copy()
            late = np.zeros(0, dtype=np.int64)
            if maybe.height:
                bounds: list[object] = [maybe["ts"].min(), maybe["ts"].max()]
                bounds += [maybe["device_id"].min(), maybe["device_id"].max()]
                # (device_id, ts) is unique: rows already stored are skipped (the ranges let
                # DuckDB skip row groups by their min/max: of ts where rows came in time
                # order, of device_id where a backlog came device by device)
                con.register("batch_pings", maybe.select("row", "device_id", "ts"))
                try:
                    found = con.execute(
                        "SELECT b.row FROM batch_pings b WHERE NOT EXISTS ("
                        "SELECT 1 FROM pings p WHERE p.ts BETWEEN ? AND ? "
                        "AND p.device_id BETWEEN ? AND ? "
                        "AND p.device_id = b.device_id AND p.ts = b.ts)",
                        bounds,
                    ).fetchall()
                finally:
                    con.unregister("batch_pings")
                late = np.sort(np.fromiter((r for (r,) in found), np.int64, len(found)))
                new[late] = True
            if flagging is not None:
                flags = self._flag(con, pings, new, late, flagging)
                pings = pings.with_columns(pl.Series("flags", flags, dtype=pl.UInt8))
            stored = int(new.sum())
            if stored:
                rows = pings.filter(pl.Series(new)) if stored < pings.height else pings
                execute_with(
                    con, "batch_pings", rows, "INSERT INTO pings SELECT * FROM batch_pings"
                )
                self.mark_changed(con, rows["ts"])
            if rejected.height:
                execute_with(
                    con,
                    "batch_rejected",
                    rejected,
                    "INSERT INTO rejected SELECT * FROM batch_rejected",
                )
            if events is not None and events.height:
                execute_with(
                    con,
                    "batch_events",
                    events,
                    "INSERT INTO device_events SELECT * FROM batch_events",
                )
            increments = dict(counters)
            increments["stored"] = increments.get("stored", 0) + stored
            increments["duplicates"] = increments.get("duplicates", 0) + pings.height - stored
            counts = {k: v for k, v in increments.items() if v}
            if counts:
                frame = pl.DataFrame(
                    {"name": list(counts), "value": list(counts.values())},
                    schema={"name": pl.String, "value": pl.Int64},
                )
                self._increment(con, COUNTERS, frame)
        self._newest.advance(pings)
        if pings.height:
            self._recent.append(pings.select("device_id", "ts"))
            while sum(f.height for f in self._recent) > RECENT_KEYS + pings.height:
                self._recent.popleft()
        self._checkpoint_if_due()
        return WriteResult(stored, pings.height - stored, flags, new)

    def _flag(
        self,
        con: duckdb.DuckDBPyConnection,
        pings: pl.DataFrame,
        new: np.ndarray,
        late: np.ndarray,
        flagging: Flagging,
    ) -> np.ndarray:
        """The flags of the batch's rows not stored yet (``new``; the others get 0: they
        are not stored again) when ``late`` of them are not newer than their device's
        newest stored fix. The stored rows a late fix changes are updated and their
        quarters marked changed, in ``con``'s transaction."""
        flags = np.zeros(pings.height, dtype=np.uint8)
        walked = pl.Series("device_id", [], pl.String)
        if self.REWALKS and late.size:
            walked = pings["device_id"].gather(late).unique()
        again = pings["device_id"].is_in(walked.to_list()).to_numpy()
        fresh = new & ~again  # newer than every stored fix of their device
        if fresh.any():  # walked on from each device's last good fix: no read
            flags[fresh] = flagging.flag_fresh(pings.filter(pl.Series(fresh)))
        rewalk = new & again
        if rewalk.any():
            flags[rewalk], stored = rewalk_late(
                con, pings.filter(pl.Series(rewalk)), flagging, self._newest
            )
            changed = stored.filter(pl.col("flags") != pl.col("new_flags"))
            update_flags(con, changed.select("rowid", "ts", pl.col("new_flags").alias("flags")))
            self.mark_changed(con, changed["ts"])
        return flags

    def _split_by_newest(self, pings: pl.DataFrame) -> pl.Series:
        """Per row: newer than its device's newest stored fix (else it may be stored
        already). The newest fix per device is read once, then kept up to date by this
        writer, so the duplicate check of a batch of new fixes reads no stored rows however
        large the table is; only late or repeated fixes are checked further (among the
        recent batches' keys, then against the table)."""
        if pings.height == 0:
            return pl.Series("new", [], pl.Boolean)
        if not self._newest.loaded():
            with self._lock:
                self._newest.load(self._con)
        return self._newest.newer(pings)

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

    def _wal_bytes(self) -> int:
        try:
            return os.path.getsize(f"{self.path}.wal")
        except FileNotFoundError:
            return 0

    def _checkpoint_if_due(self) -> None:
        """Checkpoint when automatic checkpoints have been held off too long. The batch is
        committed already: a failure here is logged, and the next write tries again."""
        if self._wal_bytes() < WAL_FORCE_CHECKPOINT_BYTES:
            return
        with self._lock:
            try:
                self._con.execute("FORCE CHECKPOINT")
            except duckdb.Error as exc:
                log.warning("checkpoint of %s failed, will retry: %s", self.path, exc)
