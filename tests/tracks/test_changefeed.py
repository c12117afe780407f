"""The stage's change feed on a real lake: two writers that stored the same pings, one
range completed, every key once, the counters moved, progress recorded; maintenance merges
files and loses nothing."""

from __future__ import annotations

import datetime as dt

import polars as pl

from conftest import Lake
from geofence.flags import FixFlagger
from tests.tracks.test_duplicates import T0, pings, write
from tests.tracks.test_flags import (
    MAX_ACC_M,
    MAX_SPEED_MPS,
    A,
    B,
    C,
    D,
    E,
    Fix,
    flagger_of,
    frame,
    oracle,
    stored_flags,
)
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
from tracks.reflag import NewestFixes
from tracks.store import REJECTED_SCHEMA


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
        expected = [
            pings("a", [10, 20, 30, 40]),
            pings("b", [10]),
            pings("y", [1]),
            pings("z", [1]),
        ]
        assert sorted(done.pings.select("device_id", "ts").rows()) == sorted(
            pl.concat(expected).select("device_id", "ts").rows()
        )
        progress = read_progress(one)
        assert progress is not None and progress.snapshot == upto
        stats = read_stats(one)
        assert (stats["stored"], stats["duplicates"]) == (7, 3)
        rows = (
            one.cursor()
            .execute("SELECT count(*), count(DISTINCT (device_id, ts)) FROM pings")
            .fetchone()
        )
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


def stage_flagger() -> FixFlagger:
    """The stage's flagger (patrol/lakestage.py): what it does not remember, the walk reads
    in the range's transaction, of the rows handled only."""
    return FixFlagger(MAX_ACC_M, MAX_SPEED_MPS)


def test_the_stage_sets_what_a_worker_judged_otherwise(lake: Lake):
    """A worker stored A, C (a 1,000 m jump from B, which it did not see) and E, flagged as
    it saw them; another stored B. In one range the stage sets them in fix-time order,
    updating only the rows that differ (row ids kept): A 0, B 0, C 2, E 0
    (tests/tracks/test_flags.py's track, without D)."""
    with lake_store(lake) as store:
        prepare_stage(store)
        write(store, frame([A, C, E]).with_columns(flags=pl.Series([0, 0, 0], dtype=pl.UInt8)))
        write(store, frame([B]))
        done = complete_range(store, START, current_snapshot(store).id, flagging=stage_flagger())
        assert done.flags_changed == 1 and done.pings["flags"].to_list() == [0, 0, 2, 0]
        rows = store.cursor().execute("SELECT rowid, flags FROM pings ORDER BY ts").fetchall()
        assert [f for _, f in rows] == [0, 0, 2, 0]
        assert sorted(r for r, _ in rows) == sorted(done.pings["rowid"].to_list())
        # the update kept the row ids: the feed does not read the rows again
        again = complete_range(store, done.position, current_snapshot(store).id)
        assert again.pings.height == 0


def test_ranges_out_of_fix_time_order_end_as_the_oracle(lake: Lake):
    """Two workers commit batches of two devices' tracks (jumps, poor accuracy, a repeat)
    in an order far from fix time, each flagging from what it saw; the stage completes a
    range after every commit or two, in commit order. Its flags end as the plain walk in
    fix-time order: later ranges re-walk rows handled before."""
    fixes: list[Fix] = [
        A,
        B,
        C,
        D,
        E,
        ("dev", 90, 1200.0, 5.0),
        ("dev", 95, 4000.0, 5.0),
        ("dev", 100, 1300.0, 80.0),
        ("dev", 130, 1500.0, None),
        ("x", 0, 0.0, 5.0),
        ("x", 5, 900.0, 5.0),
        ("x", 40, 1000.0, 5.0),
        ("x", 70, 900.0, 5.0),
    ]
    by_name = {(d, s): (d, s, n, a) for d, s, n, a in fixes}
    plan = [  # (worker, fixes by (device, s)), in commit order; None: the stage's turn
        (0, [("dev", 0), ("dev", 30), ("x", 40)]),
        (1, [("dev", 90), ("x", 0)]),
        None,
        (0, [("dev", 20), ("dev", 60), ("dev", 130)]),
        None,
        (1, [("dev", 10), ("x", 70), ("dev", 95)]),
        (0, [("dev", 100), ("x", 5)]),
        None,
        (1, [("dev", 30), ("x", 40)]),
        None,  # a repeat of what worker 0 stored
    ]
    with lake_store(lake) as one, lake_store(lake) as two:
        prepare_stage(one)
        workers = [(one, flagger_of(one)), (two, flagger_of(two))]
        at = [START]
        stage = stage_flagger()
        newest = NewestFixes()
        changed = 0
        for step in plan:
            if step is None:
                done = complete_range(
                    one, at[0], current_snapshot(one).id, flagging=stage, newest=newest
                )
                at[0] = done.position
                changed += done.flags_changed
                continue
            store, flagger = workers[step[0]]
            store.write_batch(
                frame([by_name[k] for k in step[1]]),
                pl.DataFrame(schema=REJECTED_SCHEMA),
                {},
                flagging=flagger,
            )
        assert stored_flags(one) == oracle(fixes)
        assert changed > 0
        assert one.cursor().execute("SELECT count(*) FROM pings").fetchone() == (len(fixes),)
