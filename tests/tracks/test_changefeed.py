"""The stage's change feed on a real lake: two writers that stored the same pings, one
range completed, every key once, the counters moved, progress recorded; maintenance merges
files and loses nothing."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from conftest import Lake
from tests.tracks.test_duplicates import T0, pings, write
from tracks.changefeed import (
    START,
    cleanup_files,
    complete_range,
    count_files,
    current_snapshot,
    expire_snapshots,
    merge_files,
    prepare_stage,
    read_progress,
)
from tracks.engines import open_store
from tracks.lake import LakeStore
from tracks.queries import read_stats


def lake_store(lake: Lake) -> LakeStore:
    store = open_store(lake.db, lake.data_path)
    assert isinstance(store, LakeStore)
    return store


def test_two_writers_one_key_kept_counters_moved(lake: Lake):
    """Writer 1 stores a 10, 20, 30 and b 10; writer 2, which has not seen them, stores a 20,
    30, 40 (20 and 30 repeat, 40 is new) and b 10 again. The range keeps the first row of
    each key: 5 rows, 3 deleted, stored 8 -> 5, duplicates 0 -> 3. (Each writer has
    written once before: it then knows its own newest fixes only, as a running worker does.)"""
    with lake_store(lake) as one, lake_store(lake) as two:
        prepare_stage(one)
        assert write(one, pings("y", [1])) == (1, 0)
        assert write(two, pings("z", [1])) == (1, 0)
        assert write(one, pings("a", [10, 20, 30]), pings("b", [10])) == (4, 0)
        assert write(two, pings("a", [20, 30, 40]), pings("b", [10])) == (4, 0)
        upto = current_snapshot(one).id
        done = complete_range(one, START, upto)
        assert done.duplicates == 3
        expected = [pings("a", [10, 20, 30, 40]), pings("b", [10]), pings("y", [1]),
                    pings("z", [1])]  # fmt: skip
        assert sorted(done.pings.select("device_id", "ts").rows()) == sorted(
            pl.concat(expected).select("device_id", "ts").rows()
        )
        progress = read_progress(one)
        assert progress is not None and progress.snapshot == upto
        stats = read_stats(one)
        assert (stats["stored"], stats["duplicates"]) == (7, 3)
        rows = one.cursor().execute("SELECT count(*), count(DISTINCT (device_id, ts)) "
                                    "FROM pings").fetchone()  # fmt: skip
        assert rows == (7, 7)
        # a later range: a repeat of a kept key is dropped, the kept rows are not fed again
        after = done.position
        assert write(one, pings("a", [40, 50])) == (2, 0)  # one knew a up to 30 only
        again = complete_range(one, after, current_snapshot(one).id)
        assert again.duplicates == 1
        assert (
            again.pings.select("device_id", "ts").rows()
            == pings("a", [50]).select("device_id", "ts").rows()
        )


def test_maintenance_merges_and_expires_without_loss(lake: Lake):
    with lake_store(lake) as store:
        prepare_stage(store)
        for second in range(0, 60, 10):
            write(store, pings("a", [second]))
        upto = current_snapshot(store).id
        first = complete_range(store, START, upto)
        before = count_files(store)
        merged = merge_files(store)
        assert merged >= 5 and count_files(store) == before - merged
        later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
        assert expire_snapshots(store, upto, later) > 0
        assert cleanup_files(store, later) >= 5
        assert store.cursor().execute("SELECT count(*) FROM pings").fetchone() == (6,)
        assert read_stats(store)["stored"] == 6
        # rows the stage has not read yet, in files merged before it reads them, still come
        # (ducklake_table_insertions of their snapshots returns nothing once merged)
        write(store, pings("a", [70]))
        write(store, pings("a", [80]))
        assert merge_files(store) >= 1
        later = complete_range(store, first.position, current_snapshot(store).id)
        assert later.pings["ts"].dt.epoch("s").to_list() == [T0 + 70, T0 + 80]


def test_reflag_in_commit_order(lake: Lake):
    """Two writers flagged a device's fixes from what each saw: the stage's ``reflag`` sets
    them as one process would, updating only the rows that differ (row ids kept)."""
    with lake_store(lake) as store:
        prepare_stage(store)
        rows = pings("a", [10, 20, 30, 40]).with_columns(pl.Series("flags", [0, 2, 0, 0],
                                                                   dtype=pl.UInt8))  # fmt: skip
        write(store, rows)
        seen: list[list[int]] = []

        def reflag(kept: pl.DataFrame) -> np.ndarray:
            seen.append(kept["rowid"].to_list())
            return np.array([0, 0, 2, 0], dtype=np.uint8)

        done = complete_range(store, START, current_snapshot(store).id, reflag=reflag)
        assert done.flags_changed == 2 and done.pings["flags"].to_list() == [0, 0, 2, 0]
        flags = store.cursor().execute("SELECT rowid, flags FROM pings ORDER BY ts").fetchall()
        assert flags == [(r, f) for r, f in zip(seen[0], [0, 0, 2, 0], strict=True)]
        # the update kept the row ids: the feed does not read the rows again
        again = complete_range(store, done.position, current_snapshot(store).id)
        assert again.pings.height == 0
