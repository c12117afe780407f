"""Retention on a real lake: after a purge and the stage's maintenance no Parquet file under
the data path holds a purged fix, rejection or device event (read with ``read_parquet``,
not through the catalog), the feed goes on by row id, and the month's reports are
unchanged."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import duckdb
import polars as pl

from conftest import Lake
from patrol.config import RetentionSettings, StageSettings
from patrol.derive import ReportGrids
from patrol.lakestage import LakeStage
from patrol.reports import run_reports
from tests.patrol.test_retention import (
    BEFORE,
    DAYS,
    LIMIT,
    NOW,
    SETTINGS,
    WINDOW,
    day_fixes,
    events,
    rejected,
    setup,
)
from tracks.changefeed import complete_range, current_snapshot
from tracks.engines import open_store
from tracks.lake import LakeStore
from tracks.schema import REJECTED


def reports(store: LakeStore) -> dict[str, list[dict[str, object]]]:
    return run_reports("all", ReportGrids(store), store, *WINDOW, SETTINGS)


def rows_in_files(data_path: Path, columns: set[str], column: str) -> tuple[int, int]:
    """(rows before LIMIT, all rows) of ``column`` over every Parquet file under
    ``data_path`` that has ``columns``: what the files hold, deleted or not."""
    old = total = 0
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for file in sorted(data_path.rglob("*.parquet")):
        names = {
            r[0]
            for r in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(file)]).fetchall()
        }
        if columns <= names:
            a, b = con.execute(
                f"SELECT count(*) FILTER ({column} < ?), count(*) FROM read_parquet(?)",
                [LIMIT, str(file)],
            ).fetchone()  # type: ignore[misc]
            old, total = old + a, total + b
    con.close()
    return old, total


PINGS_FILE = ({"device_id", "ts", "lat", "lon", "flags"}, "ts")
REJECTED_FILE = ({"topic", "payload", "reason", "received_at"}, "received_at")
EVENTS_FILE = ({"device_id", "event", "received_at"}, "received_at")


def test_purged_rows_leave_the_parquet_files(lake: Lake, tmp_path: Path):
    store = open_store(lake.db, lake.data_path)
    assert isinstance(store, LakeStore)
    with store:
        setup(store, tmp_path)
        for k, day in enumerate(DAYS):
            noon = dt.datetime.combine(day, dt.time(12), LIMIT.tzinfo)
            if k == 2:  # the 18th and the 19th in one batch: files across the limit
                continue
            fixes = day_fixes(store, day, k)
            if k == 3:
                fixes = pl.concat([day_fixes(store, DAYS[2], 2), fixes])
                noon = pl.concat([rejected(noon - dt.timedelta(days=1)), rejected(noon)])
                store.write_batch(
                    fixes, noon, {}, pl.concat([events(x) for x in noon["received_at"]])
                )
                continue
            store.write_batch(fixes, rejected(noon), {}, events(noon))
        stage = LakeStage(
            store,
            None,
            SETTINGS,
            StageSettings(keep_snapshots_s=0.0),
            flag_limits=(50.0, 40.0),
            clock=lambda: NOW,
            retention=RetentionSettings(retain_days=(dt.date(2026, 11, 25) - BEFORE).days),
        )
        stage._take_over()  # the feed handled: duplicates dropped, progress recorded
        before = reports(store)
        assert before["compliance"] and before["scorecard"]
        for spec in (PINGS_FILE, REJECTED_FILE, EVENTS_FILE):
            assert rows_in_files(lake.data_path, *spec)[0] > 0
        stage.maintain()  # purged (the days before derived first), files rewritten
        assert stage.retention.done == BEFORE
        assert stage.health.files_rewritten >= 3  # pings, rejected, events across the limit
        assert store.read_one("SELECT count(*) FROM pings WHERE ts < ?", [LIMIT]) == (0,)
        stage._catch_up(feed=False)  # the range after the rewrite is recorded
        time.sleep(0.01)
        stage.maintain()  # the snapshots before the purge expired, their files freed
        time.sleep(0.01)
        stage.maintain()  # the files freed before this maintenance deleted
        for spec in (PINGS_FILE, REJECTED_FILE, EVENTS_FILE):
            old, total = rows_in_files(lake.data_path, *spec)
            assert old == 0 and total > 0, spec
        kept = store.read_one("SELECT count(*) FROM pings")
        assert kept is not None and rows_in_files(lake.data_path, *PINGS_FILE)[1] == kept[0]
        assert reports(store) == before
        # the feed goes on by row id after the rewrite: a new ping is read once, alone
        position = stage._position
        new = (
            day_fixes(store, DAYS[-1], 0)
            .tail(1)
            .with_columns(pl.col("ts") + dt.timedelta(hours=10))
        )
        store.write_batch(new, REJECTED.empty(), {})
        done = complete_range(store, position, current_snapshot(store).id)
        assert done.pings.select("device_id", "ts").rows() == new.select("device_id", "ts").rows()
