"""The lake's change feed and maintenance, for the stage role (docs/operations.md, "Roles").

Ingest workers only append to the lake. The one active stage reads what they appended, in
commit order, and keeps the lake's rules that several writers cannot keep alone:

* ``(device_id, ts)`` of ``pings`` is unique: two workers that stored the same ping at the
  same moment both inserted it. Of rows with one key, the one with the lowest ``rowid`` is
  kept and the others are deleted; the counters move them from ``stored`` to ``duplicates``
  (append-only increment rows);
* how far the stage got is recorded in ``stage_progress`` in the same transaction, so a
  stage that takes over resumes there, and no range is counted twice.

The feed is read by row id, not with ``ducklake_table_insertions``: DuckLake assigns row ids
at commit, in commit order, and keeps them when files are merged, while a merged file
carries the first snapshot of the files it merged, so once maintenance has merged files the
stage had not read yet, ``ducklake_table_insertions`` over the snapshots after its position
no longer returned their rows on DuckDB 1.4.4 (insertions of snapshots 12 to 14 were empty
after files of snapshots 10 to 14 were merged; 1.5.5 returns them). ``SELECT rowid, * FROM
pings AT (VERSION => n) WHERE rowid > last`` returns them whatever the files, on both.

Maintenance (merging small files, expiring old snapshots, deleting the files they freed) is
here too. Nothing outside ``tracks/`` sees the SQL.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import polars as pl

from tracks.lake import LAKE, LakeStore, lake_ddl
from tracks.reflag import Flagging, NewestFixes, flag_rows, update_flags
from tracks.schema import DEVICE_EVENTS, Column, Table
from tracks.sql import execute_with, select_with

STAGE_PROGRESS = Table(
    "stage_progress",
    (
        Column(
            "snapshot_id", "BIGINT", "every row committed up to this snapshot is handled", False
        ),
        Column("pings_rowid", "BIGINT", "the highest pings row id handled (-1: none)", False),
        Column("events_rowid", "BIGINT", "the highest device_events row id handled", False),
        Column("completed_at", "TIMESTAMPTZ", "when the stage recorded it", False),
    ),
    "the stage's progress through the change feed (append-only; the latest row counts)",
)

#: At most this many pings per range: a long catch-up reads the feed in pieces.
RANGE_ROWS = 200_000


@dataclass(frozen=True)
class Snapshot:
    id: int
    at: dt.datetime


@dataclass(frozen=True)
class Position:
    """Where the stage is: every row committed up to ``snapshot`` with a row id up to these
    is handled."""

    snapshot: int
    pings_rowid: int = -1
    events_rowid: int = -1


START = Position(0)


@dataclass(frozen=True)
class Range:
    """What one step of the stage did."""

    position: Position  # where the stage is after it
    pings: pl.DataFrame  # the new rows kept (the first of their key), sorted by (device_id,
    # ts): rowid and PINGS' columns, their flags as ``flagging`` set them
    events: pl.DataFrame  # the device events appended (DEVICE_EVENTS' columns)
    duplicates: int  # rows deleted as repeats of a key stored before
    flags_changed: int  # rows whose flags the stage changed (kept rows and handled ones)
    recorded: bool  # whether the position was recorded in the lake
    complete: bool  # False when RANGE_ROWS cut it short: more rows wait


def prepare_stage(store: LakeStore) -> None:
    """Create the stage's own table when missing (once, by the stage)."""
    with store.transaction() as con:
        con.execute(lake_ddl(STAGE_PROGRESS))


def current_snapshot(store: LakeStore) -> Snapshot:
    row = store.read_one(
        f"SELECT s.snapshot_id, s.snapshot_time FROM ducklake_snapshots('{LAKE}') s "
        f"WHERE s.snapshot_id = (SELECT id FROM ducklake_current_snapshot('{LAKE}'))",
    )
    assert row is not None
    return Snapshot(int(row[0]), row[1])


def snapshot_time(store: LakeStore, snapshot_id: int) -> dt.datetime | None:
    row = store.read_one(
        f"SELECT snapshot_time FROM ducklake_snapshots('{LAKE}') WHERE snapshot_id = ?",
        [snapshot_id],
    )
    return row[0] if row else None


def read_progress(store: LakeStore) -> Position | None:
    """The stage's last recorded position, or None before its first."""
    row = store.read_one(
        "SELECT snapshot_id, pings_rowid, events_rowid FROM stage_progress "
        "ORDER BY snapshot_id DESC, pings_rowid DESC LIMIT 1",
    )
    return None if row is None else Position(int(row[0]), int(row[1]), int(row[2]))


def _appended(store: LakeStore, table: str, upto: int, after_rowid: int) -> pl.DataFrame:
    """Rows of ``table`` committed up to snapshot ``upto`` past row id ``after_rowid``."""
    limit = f"LIMIT {RANGE_ROWS + 1}" if table == "pings" else ""
    return store.read(
        f"SELECT rowid, * FROM {table} AT (VERSION => {int(upto)}) WHERE rowid > ? "
        f"ORDER BY rowid {limit}",
        [after_rowid],
    )


def complete_range(
    store: LakeStore,
    after: Position,
    upto: int,
    *,
    record: bool = False,
    flagging: Flagging | None = None,
    newest: NewestFixes | None = None,
) -> Range:
    """Drop the repeated keys among the pings committed after ``after`` up to snapshot
    ``upto`` (at most RANGE_ROWS of them) and record the new position, in one transaction.
    Returns the rows kept, for the live updater.

    With ``flagging``, the kept rows are flagged in fix-time order per device with the rows
    handled before (rowid up to ``after``'s; later rows come in later ranges): a device
    whose kept rows are all newer than its handled ones (``newest``: its newest handled
    fix, kept by the caller across ranges) is walked on from its last good fix; one with a
    late row re-walks its handled rows after it (:mod:`tracks.reflag`). Kept rows whose
    flags differ from a worker's, and handled rows the re-walk changes, are updated in the
    same transaction (an UPDATE keeps their row ids) and their quarters marked changed.

    A range with no rows is recorded only if ``record`` (the stage's own commits make
    snapshots too: recording each would make another). ``upto`` must be a committed
    snapshot read before this call: the transaction then sees every row of the range (and
    maybe later ones, which are handled like the range's)."""
    new = _appended(store, "pings", upto, after.pings_rowid)
    complete = new.height <= RANGE_ROWS
    new = new.head(RANGE_ROWS)
    events = _appended(store, "device_events", upto, after.events_rowid) if complete else None
    if events is None:
        events = pl.DataFrame(schema={"rowid": pl.Int64, **DEVICE_EVENTS.schema})
    position = Position(
        upto if complete else after.snapshot,
        int(new["rowid"].max()) if new.height else after.pings_rowid,  # type: ignore[arg-type]
        int(events["rowid"].max()) if events.height else after.events_rowid,  # type: ignore[arg-type]
    )
    record = record or bool(new.height or events.height)
    newest = newest if newest is not None else NewestFixes()
    with store.transaction() as con:
        duplicates, changed, kept = 0, 0, new.head(0)
        if new.height:
            keys = new.select("device_id", "ts").unique()
            bounds: list[object] = [new["ts"].min(), new["ts"].max()]
            # every stored row with a key of the range; of each key the lowest rowid stays
            stored = select_with(
                con,
                "feed_keys",
                keys,
                "SELECT p.rowid, p.device_id, p.ts FROM pings p SEMI JOIN feed_keys k "
                "ON p.device_id = k.device_id AND p.ts = k.ts WHERE p.ts BETWEEN ? AND ?",
                bounds,
            )
            first = pl.col("rowid") == pl.col("rowid").min().over("device_id", "ts")
            repeats = stored.filter(~first)
            if repeats.height:
                execute_with(
                    con,
                    "repeat_rows",
                    repeats.select("rowid"),
                    "DELETE FROM pings WHERE ts BETWEEN ? AND ? "
                    "AND rowid IN (SELECT rowid FROM repeat_rows)",
                    params=bounds,
                )
                duplicates = repeats.height
                moved = pl.DataFrame(
                    {"name": ["stored", "duplicates"], "value": [-duplicates, duplicates]}
                )
                execute_with(con, "moved", moved, "INSERT INTO counters SELECT * FROM moved")
                store.mark_changed(con, repeats["ts"])  # their days' derived data is stale
            live = stored.filter(first).select("rowid")
            kept = new.join(live, on="rowid", how="semi").sort("device_id", "ts")
            if flagging is not None and kept.height:
                if not newest.loaded():
                    newest.load(con, after.pings_rowid)
                kept, updated = _reflag(con, kept, after, flagging, newest)
                store.mark_changed(con, updated["ts"])
                changed = updated.height
        if record:
            con.execute(
                "INSERT INTO stage_progress VALUES (?, ?, ?, now())",
                [position.snapshot, position.pings_rowid, position.events_rowid],
            )
    newest.advance(kept)
    return Range(
        position, kept, events.select(DEVICE_EVENTS.names), duplicates, changed, record, complete
    )


def _reflag(
    con: duckdb.DuckDBPyConnection,
    kept: pl.DataFrame,
    after: Position,
    flagging: Flagging,
    newest: NewestFixes,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Flag a range's kept rows (sorted by device_id, ts) with the rows handled before (the
    walk, :func:`tracks.reflag.flag_rows`) and update every row whose flags change. Returns
    the kept rows with their flags, and the rows updated (rowid, ts, flags)."""
    late = kept.filter(~newest.newer(kept))["device_id"].unique().to_list()
    flags, handled = flag_rows(con, kept, flagging, newest, late=late, upto_rowid=after.pings_rowid)
    differ = kept["flags"].cast(pl.UInt8).to_numpy() != flags  # from what a worker saw
    kept = kept.with_columns(pl.Series("flags", flags, dtype=pl.UInt8))
    columns = [pl.col("rowid").cast(pl.Int64), pl.col("ts"), pl.col("flags")]
    changed = pl.concat([kept.filter(pl.Series(differ)).select(columns), handled])
    update_flags(con, changed)
    return kept, changed


def count_files(store: LakeStore) -> int:
    """Data files of the lake's tables now (for the files-merged figure)."""
    row = store.read_one(
        f"SELECT count(*) FROM __ducklake_metadata_{LAKE}.ducklake_data_file "
        "WHERE end_snapshot IS NULL",
    )
    return int(row[0]) if row else 0


def merge_files(store: LakeStore) -> int:
    """Merge adjacent small files of every table; returns how many files went away."""
    before = count_files(store)
    with store.transaction() as con:
        con.execute(f"CALL ducklake_merge_adjacent_files('{LAKE}')")
    return max(0, before - count_files(store))


def expire_snapshots(store: LakeStore, before: int, older_than: dt.datetime) -> int:
    """Expire snapshots older than ``older_than`` and below ``before`` (the stage's progress:
    the feed must still read from there). Returns how many were expired."""
    ids = [
        int(r[0])
        for r in store.read_rows(
            f"SELECT snapshot_id FROM ducklake_snapshots('{LAKE}') "
            "WHERE snapshot_id < ? AND snapshot_time < ?",
            [before, older_than],
        )
    ]
    if ids:
        with store.transaction() as con:
            versions = ", ".join(str(i) for i in ids)  # integers read above
            con.execute(f"CALL ducklake_expire_snapshots('{LAKE}', versions => [{versions}])")
    return len(ids)


def cleanup_files(store: LakeStore, older_than: dt.datetime) -> int:
    """Delete the files merging and expiring freed before ``older_than``; returns how many."""
    with store.transaction() as con:
        rows = con.execute(
            f"CALL ducklake_cleanup_old_files('{LAKE}', older_than => ?)", [older_than]
        ).fetchall()
    return len(rows)
