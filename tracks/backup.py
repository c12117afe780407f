"""Backup and restore of a store (docs/operations.md, "Backup and restore").

A backup is a folder: one Parquet file per table, all read in one read transaction (one
snapshot: every row committed before it starts, none after, whatever the writer does
meanwhile), and ``manifest.json`` (the schema version, the engine, when, each table's rows).
It is logical, so it restores into a file or a lake alike. A read needs no write lock:
on a lake any process takes it; on a file the process holding the file (serve) takes it on a
cursor of its own connection (``GET /api/v1/backup``), as DuckDB lets no other process open a
file a writer holds, not even read-only.

:func:`restore_store` creates a new store (the DDL of this gridpatrol: keys and checks
included) and loads every table, refusing a store that holds pings already.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from tracks.errors import StoreError, engine_errors
from tracks.lake import LakeStore, lake_ddl
from tracks.retention import PURGES
from tracks.schema import ALL_TABLES, COUNTERS, PING_CHANGES, SCHEMA_VERSION
from tracks.store import Store

MANIFEST = "manifest.json"

#: Tables of counts: one row per key in a file, one per commit in a lake; summed on restore.
COUNT_TABLES = {t.name: t.names for t in (COUNTERS, PING_CHANGES)}

#: What a backup holds: every table of the schema and the record of purges (the stage's
#: progress is the lake's own: a restored lake's stage starts over).
TABLES = [t.name for t in ALL_TABLES] + [PURGES.name]


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def backup_store(store: Store, out: Path) -> dict[str, int]:
    """Write every table of ``store`` as ``out/TABLE.parquet`` from one snapshot, then the
    manifest; returns the rows per table. ``out`` must not exist or be empty."""
    if out.exists() and any(out.iterdir()):
        raise StoreError(f"{out}: not empty; a backup goes into a new folder")
    out.mkdir(parents=True, exist_ok=True)
    cur = store.cursor()
    counts: dict[str, int] = {}
    try:
        with engine_errors(f"backup of {store.path} failed"):
            cur.execute("BEGIN TRANSACTION")
            present = {
                name for (name,) in cur.execute("SELECT table_name FROM duckdb_tables()").fetchall()
            }
            for table in TABLES:
                if table not in present:
                    continue
                file = out / f"{table}.parquet"
                cur.execute(f"COPY (SELECT * FROM {table}) TO {_quote(str(file))} (FORMAT parquet)")
                row = cur.execute(f"SELECT count(*) FROM {table}").fetchone()
                counts[table] = int(row[0]) if row else 0
            cur.execute("COMMIT")
    finally:
        cur.close()
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "engine": "ducklake" if isinstance(store, LakeStore) else "duckdb",
        "taken_at": dt.datetime.now(dt.UTC).isoformat(),
        "tables": counts,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return counts


def read_manifest(src: Path) -> dict[str, object]:
    try:
        manifest: dict[str, object] = json.loads((src / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise StoreError(f"{src}: not a gridpatrol backup ({MANIFEST}: {exc})") from exc
    version = manifest.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise StoreError(
            f"{src}: a backup of schema version {version}, this gridpatrol has {SCHEMA_VERSION}"
        )
    return manifest


def restore_store(store: Store, src: Path) -> dict[str, int]:
    """Load the backup in ``src`` into ``store`` (new: no pings), in one transaction; returns
    the rows per table, checked against the manifest."""
    manifest = read_manifest(src)
    tables = manifest["tables"]
    assert isinstance(tables, dict)
    row = store.read_one("SELECT count(*) FROM pings")
    if row and row[0]:
        raise StoreError(f"{store.path} holds pings already: restore into a new database")
    loaded: dict[str, int] = {}
    with store.transaction() as con:
        con.execute(lake_ddl(PURGES))
        for table, count in tables.items():
            if table not in TABLES:
                raise StoreError(f"{src}: unknown table {table!r}")
            file = _quote(str(src / f"{table}.parquet"))
            con.execute(f"DELETE FROM {table}")  # schema_version: the new store's own row
            rows = f"SELECT * FROM read_parquet({file})"
            if table in COUNT_TABLES:  # a lake's increments, summed: the file has a key
                key, value = COUNT_TABLES[table]
                rows = (
                    f"SELECT {key}, sum({value})::BIGINT FROM read_parquet({file}) GROUP BY {key}"
                )
            con.execute(f"INSERT INTO {table} {rows}")
            got = con.execute(f"SELECT count(*) FROM {table}").fetchone()
            loaded[table] = int(got[0]) if got else 0
            if loaded[table] != count and table not in COUNT_TABLES:
                raise StoreError(f"{src}: {table} has {loaded[table]} rows, the manifest {count}")
    return loaded
