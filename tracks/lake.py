"""The DuckLake store: a PostgreSQL catalog and Parquet files, the same interface as the file.

:class:`LakeStore` is a :class:`tracks.store.Store` whose connection is an in-memory DuckDB
with the lake attached (and made the default catalog, for the writer and every cursor), so
every named read of ``tracks/`` runs unchanged. What differs is what DuckLake cannot
express: it has no PRIMARY KEY, UNIQUE, CHECK, index or ``ON CONFLICT`` /
``INSERT OR REPLACE`` / ``INSERT OR IGNORE``. Each rule a key enforced in the file is
enforced here by the write itself (docs/storage.md, "The DuckLake engine"):

* tables: the same :class:`tracks.schema.Table` declarations, their constraints left out
  of the DDL (``NOT NULL`` is kept: DuckLake has it);
* ``counters``: append-only increment rows, summed by the read. Appends never conflict
  between writers; an in-place update would rewrite the row's file on every commit and
  conflict between concurrent writers;
* ``devices``: delete the ids of the frame, insert the frame, in one transaction;
* ``alerts``: insert the ids not stored yet (an anti-join); ``alerts_published`` is
  append-only on both engines (reads take distinct ids);
* ``grids``: delete all, insert all, in one transaction (as the file does);
* ``schema_version``: inserted when the table is empty; the read takes ``max(version)``;
* ``pings``: the file engine's anti-join on ``(device_id, ts)`` within the batch's time
  range (DuckLake skips files by their ts min/max): correct for one writer. Two writers
  that store the same ping at the same time both insert it; the stage role deletes all
  but the first (:mod:`tracks.changefeed`).

Extensions load by path from the ``duckdb-extension-ducklake`` and
``duckdb-extension-postgres-scanner`` wheels, with automatic install and load off: nothing is
fetched at run time.
"""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl

from tracks.errors import StoreError, engine_errors, one_line, redact
from tracks.schema import ALERTS, ALL_TABLES, DEVICE_KINDS, DEVICES, Table
from tracks.sql import execute_with
from tracks.store import Store

#: The name the lake is attached as; every connection of the store reads it by default.
LAKE = "lake"

#: The extensions a lake needs, each with the wheel holding it. A wheel holds the build for
#: one DuckDB release (``<package>/extensions/v<release>/<name>.duckdb_extension``) and
#: requires exactly that release, as pyproject.toml pins it.
EXTENSION_WHEELS = {
    "ducklake": "duckdb-extension-ducklake",
    "postgres_scanner": "duckdb-extension-postgres-scanner",
}

#: Rows DuckLake may keep in the catalog instead of a Parquet file: none. Flushing inlined
#: rows beside writers duplicated them on DuckDB 1.4.4 (duckdb/ducklake#650), and the flush
#: still has open reports on 1.5 that touch the stage (docs/storage.md, "The DuckLake
#: engine"), so every commit writes Parquet (one small file per table written: compaction
#: is maintenance's).
DATA_INLINING_ROW_LIMIT = 0


def lake_ddl(table: Table) -> str:
    """The table's DDL as DuckLake takes it: its columns and NOT NULL, no other constraint."""
    body = ",\n    ".join(
        " ".join([c.name, c.sql] + ([] if c.nullable else ["NOT NULL"])) for c in table.columns
    )
    return f"CREATE TABLE IF NOT EXISTS {table.name} (\n    {body}\n);"


def extension_file(name: str) -> Path:
    """The file of extension ``name`` built for the running DuckDB, from its wheel."""
    wheel = EXTENSION_WHEELS[name]
    try:
        dist = importlib.metadata.distribution(wheel)
    except importlib.metadata.PackageNotFoundError as exc:
        raise StoreError(
            f"a DuckLake store needs the Python packages {' and '.join(EXTENSION_WHEELS.values())}"
        ) from exc
    tail = f"/extensions/v{duckdb.__version__}/{name}.duckdb_extension"
    for file in dist.files or ():
        if str(file).endswith(tail):
            return Path(str(dist.locate_file(file)))
    raise StoreError(
        f"{wheel} {dist.version} holds no {name} extension for DuckDB {duckdb.__version__}: "
        "install the versions requirements.lock pins"
    )


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


#: A PostgreSQL advisory lock (per catalog database) held while a writer attaches the lake
#: and creates its tables. Processes started together on a new lake race to create
#: DuckLake's catalog otherwise, and all but one fail (seen: "Failed to parse catalog entry -
#: trailing data after quoted value", two workers started at once on DuckDB 1.4.4).
OPENING_LOCK = 0x67726964_6F70  # "gridop"


@contextmanager
def opening_lock(catalog: str) -> Iterator[None]:
    """Hold :data:`OPENING_LOCK` on the catalog's database for the block. Where PostgreSQL
    cannot be reached, the block runs unlocked: the attach then fails with DuckDB's own
    message, as without the lock."""
    import psycopg  # here: a report or a command on a file never loads PostgreSQL's client

    try:
        con = psycopg.connect(
            catalog.removeprefix("postgres:"),
            autocommit=True,
            connect_timeout=OPENING_CONNECT_TIMEOUT_S,
        )
    except psycopg.Error:
        yield
        return
    try:
        con.execute("SELECT pg_advisory_lock(%s)", [OPENING_LOCK])
        yield
    finally:
        con.close()  # the session's end frees the lock


#: Seconds to wait for PostgreSQL when taking the opening lock.
OPENING_CONNECT_TIMEOUT_S = 5

#: The DuckLake format this DuckDB's extension writes, and the oldest it migrates from.
LAKE_FORMAT = "1.0"

#: DuckLake's refusal of a catalog of another format (DuckDB 1.5.5; pinned by
#: tests/gridpatrol/test_lake.py, so a new wording fails a test rather than an operator).
FORMAT_MISMATCH = re.compile(
    r"catalog version is (?P<found>\d[\w.-]*\w), but the extension requires version "
    r"(?P<needed>\d[\w.-]*\w)"
)


def _format_key(version: str) -> tuple[int, ...]:
    """``0.3-dev1`` -> (0, 3): enough to tell older from newer."""
    return tuple(int(part) for part in re.findall(r"\d+", version.split("-")[0]))


class LakeFormatError(StoreError):
    """The catalog is of a DuckLake format this DuckDB does not open as it is."""

    def __init__(self, store_path: str, data_path: Path, found: str, needed: str) -> None:
        self.found, self.needed = found, needed
        self.older = _format_key(found) < _format_key(needed)
        if self.older:
            why = (
                f"its catalog is DuckLake format {found} (gridpatrol on DuckDB 1.4), this "
                f"gridpatrol (DuckDB {duckdb.__version__}) needs {needed}. With every "
                "gridpatrol process on the lake stopped and the catalog database and data "
                "path backed up, run once (one way: DuckDB 1.4 cannot open it after): "
                f"gridpatrol lake migrate --db {_quote(store_path)} --data-path {data_path}"
            )
        else:
            why = (
                f"its catalog is DuckLake format {found}, newer than this gridpatrol "
                f"(DuckDB {duckdb.__version__}, format {needed}) opens: upgrade gridpatrol"
            )
        super().__init__(f"cannot open {store_path}: {why}")


def connect_engine() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the lake's extensions loaded from their wheels, and automatic
    install and load off: nothing is looked for or fetched elsewhere."""
    files = [extension_file(name) for name in EXTENSION_WHEELS]
    config: dict[str, str | bool | int | float | list[str]] = {
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    }
    con = duckdb.connect(config=config)
    try:
        for file in files:
            con.execute(f"LOAD {_quote(str(file))}")
    except duckdb.Error as exc:
        con.close()
        raise StoreError(f"cannot load the DuckLake extensions: {one_line(exc)}") from exc
    return con


class LakeStore(Store):
    """A DuckLake attached to an in-memory DuckDB; writes serialised by the store's lock."""

    DDL = "\n".join(lake_ddl(t) for t in ALL_TABLES)

    #: Several workers write the pings: each appends only, and flags from what it has seen
    #: (a late fix against the stored fix before it; no stored row is updated: an update
    #: beside other writers would conflict). The stage re-walks each range of the change
    #: feed in fix-time order (tracks.changefeed), and its flags are the ones that stay.
    SOLE_WRITER = False

    def __init__(
        self,
        catalog: str,
        data_path: Path,
        *,
        read_only: bool = False,
        commit_retries: int | None = None,
        migrate: bool = False,
    ) -> None:
        # catalog: what follows "ducklake:" (e.g. "postgres:dbname=town host=... port=...");
        # commit_retries: DuckLake's ducklake_max_retry_count (None: its default, 10);
        # migrate: bring a catalog of an older DuckLake format to LAKE_FORMAT (one way)
        self.catalog = catalog
        self.data_path = data_path
        self.commit_retries = commit_retries
        self.migrate = migrate
        if read_only:
            super().__init__(redact(f"ducklake:{catalog}"), read_only=True)
            return
        with opening_lock(catalog):
            super().__init__(redact(f"ducklake:{catalog}"))

    def _connect(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        con = connect_engine()
        try:
            if self.commit_retries is not None:
                con.execute(f"SET ducklake_max_retry_count = {int(self.commit_retries)}")
            options = [f"DATA_PATH {_quote(str(self.data_path))}"]
            if read_only:
                options.append("READ_ONLY")
            else:
                options.append(f"DATA_INLINING_ROW_LIMIT {DATA_INLINING_ROW_LIMIT}")
            if self.migrate:
                options.append("AUTOMATIC_MIGRATION TRUE")
            con.execute(
                f"ATTACH {_quote('ducklake:' + self.catalog)} AS {LAKE} ({', '.join(options)})"
            )
            con.execute(f"USE {LAKE}")
        except duckdb.Error as exc:
            con.close()
            mismatch = FORMAT_MISMATCH.search(str(exc))
            if mismatch:
                raise LakeFormatError(
                    str(self.path), self.data_path, **mismatch.groupdict()
                ) from exc
            raise StoreError(f"cannot open {self.path}: {one_line(exc)}") from exc
        return con

    def format_version(self) -> str:
        """The DuckLake format of the catalog (``LAKE_FORMAT`` once open)."""
        row = self.read_one(f"SELECT value FROM {LAKE}.options() WHERE option_name = 'version'")
        return str(row[0]) if row else "?"

    #: /health's probe reads the catalog: PostgreSQL away makes it fail.
    PROBE_SQL = f"SELECT id FROM ducklake_current_snapshot('{LAKE}')"

    def cursor(self) -> duckdb.DuckDBPyConnection:
        cur = super().cursor()
        try:
            with engine_errors(f"cannot read {self.path}"):
                cur.execute(f"USE {LAKE}")
        except StoreError:
            cur.close()
            raise
        return cur

    def checkpoint(self) -> None:
        """Nothing to do: no write-ahead log of this process (a purge's rows leave the
        Parquet files through maintenance: tracks.retention)."""

    def checkpoint_if_due(self) -> None:
        """Nothing to do: a lake commit writes its Parquet files and catalog rows directly,
        with no write-ahead log of this process."""

    def _increment(self, con: duckdb.DuckDBPyConnection, table: Table, frame: pl.DataFrame) -> None:
        """Append the increments as rows (reads sum them): appends never conflict between
        writers, where an update in place would."""
        execute_with(con, "increments", frame, f"INSERT INTO {table.name} SELECT * FROM increments")

    def write_alerts(self, alerts: pl.DataFrame) -> None:
        """Append alerts whose id is not stored yet (the first of a repeated id wins)."""
        frame = alerts.select(ALERTS.names).unique("alert_id", keep="first", maintain_order=True)
        with self.transaction() as con:
            execute_with(
                con,
                "new_alerts",
                frame,
                "INSERT INTO alerts SELECT * FROM new_alerts n WHERE NOT EXISTS ("
                "SELECT 1 FROM alerts a WHERE a.alert_id = n.alert_id)",
            )

    def upsert_devices(self, devices: pl.DataFrame) -> None:
        """Replace the stored rows of these device ids with these rows."""
        frame = devices.select(DEVICES.names).cast(DEVICES.schema)
        bad = frame.filter(~pl.col("kind").is_in(DEVICE_KINDS) | pl.col("device_id").is_null())
        if bad.height or frame["device_id"].is_duplicated().any():
            raise StoreError(
                f"write to {self.path} failed: devices need a unique device_id and a kind of "
                f"{' or '.join(DEVICE_KINDS)}"
            )
        with self.transaction() as con:
            execute_with(
                con,
                "devices_rows",
                frame,
                "DELETE FROM devices WHERE device_id IN (SELECT device_id FROM devices_rows)",
                "INSERT INTO devices SELECT * FROM devices_rows",
            )


def migrate_lake(catalog: str, data_path: Path) -> str | None:
    """Bring a lake of an older DuckLake format to ``LAKE_FORMAT``, one way; returns the
    format it had, or None when it needed nothing. A newer format is refused."""
    try:
        LakeStore(catalog, data_path, read_only=True).close()  # never creates a lake
        return None
    except LakeFormatError as exc:
        if not exc.older:
            raise
        found = exc.found
    store = LakeStore(catalog, data_path, migrate=True)
    try:
        now = store.format_version()
    finally:
        store.close()
    if now != LAKE_FORMAT:
        raise StoreError(f"migrating {redact('ducklake:' + catalog)} left format {now}")
    return found
