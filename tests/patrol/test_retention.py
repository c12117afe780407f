"""Retention on a real DuckDB file: after a purge the old fixes, rejections and device
events are gone, and every report of the month is unchanged (derived figures stay, the
purged days are never derived again from their missing fixes)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from base.errors import ConfigError
from geofence.config import GeofenceSettings
from geofence.grids import check_grids
from gridpatrol.cli import main
from patrol.config import RetentionSettings
from patrol.derive import ReportGrids, derive_range
from patrol.grids import read_grids, save_grids
from patrol.reports import run_reports
from patrol.retention import RetentionKeeper, purge
from tests.geofence.town import lonlat, three_in_a_row
from tests.patrol.day import TZ, ping_frame
from tracks.commands import record_commands
from tracks.schema import DEVICE_EVENTS, DEVICES, REJECTED
from tracks.store import Store

SETTINGS = GeofenceSettings(timezone="Asia/Shanghai")
#: six service days of fixes, 2026-11-16 to 2026-11-21; a purge before the 19th
FIRST = dt.date(2026, 11, 16)
DAYS = [FIRST + dt.timedelta(days=k) for k in range(6)]
BEFORE = dt.date(2026, 11, 19)
LIMIT = dt.datetime(2026, 11, 19, tzinfo=TZ)
WINDOW = (dt.datetime(2026, 11, 1, tzinfo=TZ), dt.datetime(2026, 12, 1, tzinfo=TZ))
NOW = dt.datetime(2026, 11, 25, 12, tzinfo=TZ).timestamp()


def command(sent_at: dt.datetime) -> dict[str, object]:
    """A locate answered with a position (a row of ``device_commands``)."""
    return {
        "command_id": f"c{sent_at.timestamp():.0f}",
        "device_id": "d1",
        "action": "locate",
        "params": "{}",
        "requested_by": "ops",
        "rollcall": "A",
        "sent_at": sent_at,
        "ended_at": sent_at + dt.timedelta(seconds=2),
        "status": "answered",
        "result": 0,
        "ts": sent_at + dt.timedelta(seconds=1),
        "lat": 39.06,
        "lon": 117.2,
        "detail": "",
    }


def day_fixes(store: Store, day: dt.date, k: int) -> pl.DataFrame:
    """d1 walks A -> B -> C from 08:00 (a minute a fix, a day's shape its own); d2 walks
    C from 09:00 on odd days."""
    grid_set = read_grids(store)
    assert grid_set is not None
    t0 = dt.datetime.combine(day, dt.time(8), TZ).timestamp()
    xs = np.linspace(-150, 150, 30 + 5 * k)
    devices, ts, points = [], [], []
    for i, x in enumerate(xs):
        devices.append("d1")
        ts.append(t0 + 60.0 * i)
        points.append(lonlat(float(x), 10.0 * (k % 3)))
    if k % 2:
        for i in range(20):
            devices.append("d2")
            ts.append(t0 + 3600 + 60.0 * i)
            points.append(lonlat(60.0 + 4 * i, -20.0))
    lon = np.array([p[0] for p in points])
    lat = np.array([p[1] for p in points])
    return ping_frame(grid_set, devices, np.array(ts), lon, lat)


def rejected(at: dt.datetime) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "topic": ["gridpatrol/v1/ping/d1"],
            "payload": [b"{bad"],
            "item": [0],
            "reason": ["bad_json"],
            "detail": ["x"],
            "received_at": [at],
        },
        schema=REJECTED.schema,
    )


def events(at: dt.datetime) -> pl.DataFrame:
    return pl.DataFrame(
        {"device_id": ["d1"], "event": ["lwt"], "received_at": [at]}, schema=DEVICE_EVENTS.schema
    )


def setup(store: Store, folder: Path) -> None:
    """Grids A | B | C under P (an hour's interval), d1 assigned to A, d2 to C."""
    save_grids(store, check_grids(three_in_a_row(folder / "g.geojson", interval_min=60))[0])
    store.upsert_devices(
        pl.DataFrame(
            {
                "device_id": ["d1", "d2"],
                "kind": ["tracker", "phone"],
                "worker": ["Li Wei", "Wang Fang"],
                "grid_id": ["A", "C"],
            },
            schema=DEVICES.schema,
        )
    )


def build_month(folder: Path) -> Path:
    db = folder / "month.db"
    with Store(db) as store:
        setup(store, folder)
        for k, day in enumerate(DAYS):
            noon = dt.datetime.combine(day, dt.time(12), TZ)
            store.write_batch(day_fixes(store, day, k), rejected(noon), {}, events(noon))
        # the first two days derived as serve would have; the others not (purge derives them)
        derive_range(ReportGrids(store), store, SETTINGS, DAYS[0], DAYS[1])
    return db


def reports(store: Store) -> dict[str, list[dict[str, object]]]:
    return run_reports("all", ReportGrids(store), store, *WINDOW, SETTINGS)


def count_before(store: Store, table: str, column: str) -> int:
    row = store.read_one(f"SELECT count(*) FROM {table} WHERE {column} < ?", [LIMIT])
    assert row is not None
    return int(row[0])


def derived_days(store: Store) -> list[tuple[object, ...]]:
    return store.read_rows("SELECT day, through, changes FROM derived_days ORDER BY day")


def test_purge_deletes_the_old_rows_and_reports_are_unchanged(tmp_path: Path):
    db = build_month(tmp_path)
    with Store(db) as store:
        before = reports(store)
        recomputed = run_reports(
            "all", ReportGrids(store), store, *WINDOW, SETTINGS, recompute=True
        )
        assert before == recomputed  # the oracle, while every fix is there
        assert before["compliance"] and before["scorecard"]
        kept = store.read_rows("SELECT * FROM pings WHERE ts >= ? ORDER BY device_id, ts", [LIMIT])
        # a roll call answered before the limit (a position) and one after it
        record_commands(store, [command(LIMIT - dt.timedelta(hours=1)), command(LIMIT)])
        done = purge(store, BEFORE, SETTINGS, now=NOW)
        assert (done.pings, done.rejected, done.device_events, done.device_commands) == (
            sum(30 + 5 * k + (20 if k % 2 else 0) for k in range(3)),
            3,
            3,
            1,
        )
        for table, column in (
            ("pings", "ts"),
            ("rejected", "received_at"),
            ("device_events", "received_at"),
            ("device_commands", "sent_at"),
        ):
            assert count_before(store, table, column) == 0, table
        assert store.read_rows("SELECT * FROM pings ORDER BY device_id, ts") == kept
        assert store.read_one("SELECT count(*) FROM rejected") == (3,)
        assert reports(store) == before
        days = derived_days(store)
        assert [d for d, *_ in days] == DAYS[:3]  # every day derived before its fixes went
        # a late fix from before the limit (a blind-area upload) changes no purged day
        store.write_batch(day_fixes(store, DAYS[0], 9).head(5), REJECTED.empty(), {})
        assert reports(store) == before
        assert derive_range(ReportGrids(store), store, SETTINGS, DAYS[0], DAYS[-1]) != []
        assert [row for row in derived_days(store) if row[0] < BEFORE] == [
            row for row in days if row[0] < BEFORE
        ]
        assert reports(store) == before
    # the same file opened read-only (gridpatrol report) answers the same
    with Store(db, read_only=True) as store:
        assert reports(store) == before


def test_purge_refuses_a_day_after_today(tmp_path: Path):
    db = build_month(tmp_path)
    with Store(db) as store, pytest.raises(ConfigError, match="later than today"):
        purge(store, dt.date(2026, 11, 26), SETTINGS, now=NOW)


def test_serve_retention_purges_once_a_day(tmp_path: Path):
    db = build_month(tmp_path)
    clock = [NOW]
    with Store(db) as store:
        before = reports(store)
        keeper = RetentionKeeper(
            store, RetentionSettings(retain_days=6), SETTINGS, clock=lambda: clock[0]
        )
        done = keeper.purge_if_due()  # the 25th less 6 days: the 19th is the first kept
        assert done is not None and done.before == LIMIT
        assert keeper.purge_if_due() is None  # nothing moved
        clock[0] += 86400  # the next day: the 20th is the first kept
        again = keeper.purge_if_due()
        assert again is not None and again.pings == 30 + 5 * 3 + 20
        assert reports(store) == before
    assert RetentionKeeper(store, RetentionSettings(), SETTINGS).due() is None  # 0: forever


def test_purge_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    db = build_month(tmp_path)
    assert main(["purge", "--db", str(db), "--before", "2026-11-19"]) == 0
    out = capsys.readouterr().out
    assert "deleted 125 pings, 3 rejected, 3 device events" in out
    assert main(["purge", "--db", str(db), "--before", "2999-01-01"]) == 2
    assert main(["purge", "--db", str(db), "--before", "19 Nov"]) == 2
