"""Retention: deleting the raw records of people's movements older than a limit (PIPL
art. 19 and 47), on a file and on a lake (docs/storage.md, "Retention").

What goes: ``pings`` (fix time before the limit), ``rejected`` and ``device_events`` (arrival
before it), ``device_commands`` (sent before it: a locate's answer is a position). What stays: the derived patrol data (``derived_*``, ``derived_days``,
``ping_changes``), ``alerts``, ``alerts_published``, ``counters``, ``devices``, ``grids``.
The purge never touches ``ping_changes``, so it makes no derived day stale; each purge is
recorded in ``purges`` in its own transaction, and the days before the newest limit are
final: their derived facts are what reports take (:mod:`tracks.derived`), and nothing
derives them again from the pings that are gone (:mod:`patrol.derive`).

On a lake a DELETE only hides the rows from later snapshots: the Parquet files still hold
them. :func:`rewrite_deleted_files` writes the files holding deleted rows again without
them; once the snapshots before that are expired and the old files cleaned up (the stage's
maintenance, :mod:`tracks.changefeed`), no file holds a purged row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from tracks.lake import LAKE, LakeStore, lake_ddl
from tracks.reader import Reader
from tracks.schema import Column, Table
from tracks.store import Store

PURGES = Table(
    "purges",
    (
        Column("before", "TIMESTAMPTZ", "everything older than this was deleted", False),
        Column("purged_at", "TIMESTAMPTZ", "when", False),
        Column("pings", "BIGINT", "pings deleted (fix time before the limit)", False),
        Column("rejected", "BIGINT", "rejected rows deleted (arrival before the limit)", False),
        Column("device_events", "BIGINT", "device events deleted (arrival before it)", False),
    ),
    "one row per purge (append-only); the newest limit makes the days before it final",
)

#: The tables a purge deletes from, each with the time column it is judged by (``purges``
#: counts the first three; ``device_commands``, added in version 5, is counted in the log).
PURGED_TABLES = (
    ("pings", "ts"),
    ("rejected", "received_at"),
    ("device_events", "received_at"),
    ("device_commands", "sent_at"),
)


@dataclass(frozen=True)
class Purged:
    before: dt.datetime
    pings: int
    rejected: int
    device_events: int
    device_commands: int


def purge_before(store: Store, before: dt.datetime) -> Purged:
    """Delete the pings with a fix time before ``before`` and the rejected rows and device
    events that arrived before it, and record the purge, in one transaction. ``ping_changes``
    is left as it is: no derived day becomes stale."""
    counts: list[int] = []
    with store.transaction() as con:
        con.execute(lake_ddl(PURGES))  # no constraint: the same DDL on both engines
        for table, column in PURGED_TABLES:
            row = con.execute(f"DELETE FROM {table} WHERE {column} < ?", [before]).fetchone()
            counts.append(int(row[0]) if row else 0)
        con.execute("INSERT INTO purges VALUES (?, now(), ?, ?, ?)", [before, *counts[:3]])
    store.checkpoint()  # a file frees the deleted rows' blocks now (a lake: nothing to do)
    return Purged(before, *counts)


def purged_before(reader: Reader) -> dt.datetime | None:
    """The newest purge's limit, or None when nothing was ever purged."""
    tables = {name for (name,) in reader.rows("SELECT table_name FROM duckdb_tables()")}
    if PURGES.name not in tables:
        return None
    row = reader.one("SELECT max(before) FROM purges")
    return row[0] if row and row[0] is not None else None


def rewrite_deleted_files(store: LakeStore) -> int:
    """Write again, without their deleted rows, the lake's data files of the purged tables
    that hold any (``ducklake_rewrite_data_files`` with a delete threshold of 0: a file with
    one deleted row qualifies). The old files stay until the snapshots that still read them
    are expired and the files cleaned up. Returns how many files were rewritten."""
    done = 0
    with store.transaction() as con:
        for table, _ in PURGED_TABLES:
            rows = con.execute(
                f"CALL ducklake_rewrite_data_files('{LAKE}', '{table}', delete_threshold => 0)"
            ).fetchall()
            done += len(rows)
    return done
