"""The store's behaviour on both engines: a DuckDB file and a DuckLake (real PostgreSQL).

Every rule a key enforces in the file (unique pings, one alert per id, one device per id,
counters that add up) is enforced by the lake's writes instead (tracks/lake.py); the same
test runs on both.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import polars as pl
import pytest

from conftest import Lake
from tests.tracks.test_reads import T, fill, pings
from tracks.alerts import (
    count_alerts,
    read_alerts,
    read_alerts_since,
    read_published_ids,
    read_unpublished_alerts,
)
from tracks.commands import read_commands, record_commands
from tracks.devices import read_device_positions, read_devices
from tracks.engines import open_store
from tracks.grids import read_grid_rows
from tracks.queries import (
    count_pings,
    read_fixes,
    read_last_fixes,
    read_latest_alerts,
    read_stats,
    read_track,
)
from tracks.schema import ALERTS, ALL_TABLES, DEVICES, GRIDS, REJECTED, SCHEMA_VERSION
from tracks.store import Store

Opener = Callable[..., Store]


@pytest.fixture(params=["file", "lake"])
def opener(request: pytest.FixtureRequest, tmp_path) -> Opener:
    """Opens the test's store (again, for a reopen); ``read_only=True`` as reports do."""
    if request.param == "file":
        path = tmp_path / "gp.db"
        return lambda read_only=False: open_store(path, None, read_only=read_only)
    lake: Lake = request.getfixturevalue("lake")
    return lambda read_only=False: open_store(lake.db, lake.data_path, read_only=read_only)


def no_rejections() -> pl.DataFrame:
    return REJECTED.empty()


def test_tables_read_back_as_declared(opener: Opener):
    with opener() as store:
        for table in ALL_TABLES:
            assert store.cursor().execute(f"SELECT * FROM {table.name}").pl().schema == (
                table.schema
            ), table.name


def test_duplicates_fresh_late_repeated_and_after_reopen(opener: Opener):
    first = pings(
        [
            ("a", 10, 117.0, 39.0, 0, None),
            ("a", 20, 117.0, 39.0, 0, None),
            ("b", 20, 117.0, 39.0, 0, None),
        ]
    )
    with opener() as store:
        assert store.write_batch(first, no_rejections(), {}).stored == 3
        # repeated: the same batch again
        again = store.write_batch(first, no_rejections(), {})
        assert (again.stored, again.duplicates) == (0, 3)
        # late: older than the newest stored fix; new (a, 5) is stored, stored (a, 10) is not
        late = store.write_batch(
            pings([("a", 5, 117.0, 39.0, 0, None), ("a", 10, 117.0, 39.0, 0, None)]),
            no_rejections(),
            {},
        )
        assert (late.stored, late.duplicates) == (1, 1)
    with opener() as store:  # after reopen
        fresh = store.write_batch(
            pings([("a", 20, 117.0, 39.0, 0, None), ("b", 30, 117.0, 39.0, 0, None)]),
            no_rejections(),
            {},
        )
        assert (fresh.stored, fresh.duplicates) == (1, 1)
        assert count_pings(store) == 5
        track = read_track(store, "a", T, T + dt.timedelta(minutes=1))
    assert track["ts"].to_list() == [T + dt.timedelta(seconds=s) for s in (5, 10, 20)]


def test_counters_add_up_across_writes_and_reopen(opener: Opener):
    batch = pings([("a", 10, 117.0, 39.0, 0, None), ("a", 20, 117.0, 39.0, 0, None)])
    with opener() as store:
        store.write_batch(batch, no_rejections(), {"received": 3, "rejected.bad_json": 1})
        store.write_batch(batch, no_rejections(), {"received": 2})
    with opener() as store:
        store.write_batch(
            pings([("c", 1, 117.0, 39.0, 0, None)]),
            no_rejections(),
            {"received": 2, "rejected.bad_json": 1, "other.waypoint": 4},
        )
    with opener(read_only=True) as store:
        stats = read_stats(store)
    assert stats == {
        "received": 7,
        "stored": 3,
        "duplicates": 2,
        "rejected": {"bad_json": 2},
        "other": {"waypoint": 4},
    }


def devices(rows: list[tuple[str, str, str | None, str | None]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=DEVICES.schema, orient="row")


def test_devices_upsert_replaces_by_id(opener: Opener):
    with opener() as store:
        store.upsert_devices(devices([("a", "phone", "Wang", "G1"), ("b", "tracker", None, None)]))
        store.upsert_devices(devices([("b", "phone", "Li", "G2"), ("c", "tracker", None, "G3")]))
        registry = read_devices(store)
    assert registry.rows() == [
        ("a", "phone", "Wang", "G1"),
        ("b", "phone", "Li", "G2"),
        ("c", "tracker", None, "G3"),
    ]


def test_devices_of_an_unknown_kind_are_refused(opener: Opener):
    from tracks.store import StoreError

    with opener() as store:
        with pytest.raises(StoreError):
            store.upsert_devices(devices([("a", "drone", None, None)]))
        assert read_devices(store).height == 0


def alerts(ids: list[str], detail: str) -> pl.DataFrame:
    n = len(ids)
    return pl.DataFrame(
        {
            "alert_id": ids,
            "kind": ["overdue"] * n,
            "grid_id": ["G1"] * n,
            "device_id": None,
            "ts": [T] * n,
            "raised_at": [T] * n,
            "detail": [detail] * n,
        },
        schema=ALERTS.schema,
    )


def test_an_alert_is_stored_once(opener: Opener):
    with opener() as store:
        store.write_alerts(alerts(["x1"], "first"))
        store.write_alerts(alerts(["x1", "x2"], "second"))
    with opener() as store:
        store.write_alerts(alerts(["x2", "x1"], "third"))
        stored = read_alerts(store, T, limit=10).sort("alert_id")
        assert count_alerts(store) == 2
    assert stored.select("alert_id", "detail").rows() == [("x1", "first"), ("x2", "second")]


def grids(ids: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "grid_id": ids,
            "position": list(range(len(ids))),
            "name": ids,
            "parent": None,
            "is_leaf": True,
            "interval_s": 1800,
            "service_hours": None,
            "geometry": "null",
        },
        schema=GRIDS.schema,
    )


def test_grids_are_replaced_whole(opener: Opener):
    with opener() as store:
        store.replace_grids(grids(["G1", "G2", "G3"]))
        store.replace_grids(grids(["G9", "G1"]))
        rows = read_grid_rows(store)
    assert rows["grid_id"].to_list() == ["G9", "G1"] and rows.schema == GRIDS.schema


def test_the_reads_give_the_same_frames_on_both_engines(tmp_path, lake: Lake):
    answers = []
    for db, data_path in ((tmp_path / "gp.db", None), (lake.db, lake.data_path)):
        with open_store(db, data_path) as store:
            fill(store)
            store.replace_grids(grids(["G1", "G2", "G3"]))
            end = T + dt.timedelta(minutes=1)
            answers.append(
                {
                    "devices": read_devices(store),
                    "positions": read_device_positions(store),
                    "fixes": read_fixes(store, T, end),
                    "track": read_track(store, "a", T, end),
                    "alerts": read_alerts(store, T, 10),
                    "grids": read_grid_rows(store),
                    "stats": read_stats(store),
                    "last_fixes": read_last_fixes(store),
                    "latest_alerts": sorted(read_latest_alerts(store)),
                }
            )
    file, lake_answers = answers
    for name, value in file.items():
        if isinstance(value, pl.DataFrame):
            assert value.equals(lake_answers[name]), name
            assert value.schema == lake_answers[name].schema, name
        else:
            assert value == lake_answers[name], name
    assert file["fixes"].height == 3 and file["positions"].height == 4


def raised(ids: list[str], at: list[dt.datetime]) -> pl.DataFrame:
    return alerts(ids, "").with_columns(pl.Series("raised_at", at, ALERTS.schema["raised_at"]))


def test_the_outbox_reads_stored_alerts_not_recorded_as_published(opener: Opener):
    """``alerts_published`` is append-only: an id recorded twice is one id published."""
    day = dt.timedelta(days=1)
    with opener() as store:
        store.write_alerts(raised(["x1", "x2", "old"], [T, T, T - 2 * day]))
        assert read_unpublished_alerts(store, T - day)["alert_id"].to_list() == ["x1", "x2"]
        store.write_published(["x1"])
        store.write_published(["x1"])  # a republished alert, recorded again
        assert read_unpublished_alerts(store, T - day)["alert_id"].to_list() == ["x2"]
        assert read_published_ids(store, ["x1", "x2", "nope"]) == {"x1"}
        assert read_alerts_since(store, T)["alert_id"].to_list() == ["x1", "x2"]


def test_an_older_file_records_its_alerts_as_published_on_upgrade(opener: Opener):
    """Version 2 had no outbox and published every alert it raised: opened for writing by
    version 3, its alerts are recorded as published, so none is published again."""
    with opener() as store:
        store.write_alerts(raised(["x1"], [T]))
        with store.transaction() as con:  # back to version 2
            con.execute("DROP TABLE alerts_published")
            con.execute("DELETE FROM schema_version")
            con.execute("INSERT INTO schema_version VALUES (2)")
    with opener() as store:
        assert read_unpublished_alerts(store, T - dt.timedelta(days=1)).height == 0
        version = store.cursor().execute("SELECT max(version) FROM schema_version").fetchone()
    assert version == (SCHEMA_VERSION,) and SCHEMA_VERSION >= 3


def test_a_version_3_store_gets_the_registry_and_access_tables_on_upgrade(opener: Opener):
    """Version 4 added terminals, terminal_events and access_log: a version 3 file or lake
    opened for writing has them, empty; its rows are kept."""
    added = ("terminals", "terminal_events", "access_log")
    with opener() as store:
        store.write_alerts(raised(["x1"], [T]))
        with store.transaction() as con:  # back to version 3
            for table in added:
                con.execute(f"DROP TABLE {table}")
            con.execute("DELETE FROM schema_version")
            con.execute("INSERT INTO schema_version VALUES (3)")
    with opener() as store:
        for table in added:
            assert store.read_one(f"SELECT count(*) FROM {table}") == (0,), table
        assert store.read_one("SELECT max(version) FROM schema_version") == (SCHEMA_VERSION,)
        assert store.read_one("SELECT count(*) FROM alerts") == (1,)


def test_a_version_4_store_gets_the_version_5_tables_on_upgrade(opener: Opener):
    """Version 5 added rosters, roster_shifts, calendar_days, alert_acks, device_datums and
    device_commands: a version 4 file or lake opened for writing has them, empty; its rows are
    kept (the new pings columns: the test below)."""
    added = (
        "rosters",
        "roster_shifts",
        "calendar_days",
        "alert_acks",
        "device_datums",
        "device_commands",
    )
    with opener() as store:
        store.write_alerts(raised(["x1"], [T]))
        with store.transaction() as con:  # back to version 4
            for table in added:
                con.execute(f"DROP TABLE {table}")
            con.execute("DELETE FROM schema_version")
            con.execute("INSERT INTO schema_version VALUES (4)")
    with opener() as store:
        for table in added:
            assert store.read_one(f"SELECT count(*) FROM {table}") == (0,), table
        assert store.read_one("SELECT max(version) FROM schema_version") == (5,)
        assert store.read_one("SELECT count(*) FROM alerts") == (1,)


def test_a_version_4_store_gets_the_satellites_and_alarm_columns_on_upgrade(opener: Opener):
    """Version 5 added pings.sat and pings.alarm: a version 4 file or lake opened for
    writing has them, NULL in the rows it held, and stores them from then on."""
    with opener() as store:
        store.write_batch(pings([("a", 10, 117.0, 39.0, 0, None)]), no_rejections(), {})
        with store.transaction() as con:  # back to version 4
            con.execute("ALTER TABLE pings DROP COLUMN alarm")
            con.execute("ALTER TABLE pings DROP COLUMN sat")
            con.execute("DELETE FROM schema_version")
            con.execute("INSERT INTO schema_version VALUES (4)")
    with opener() as store:
        new = pings([("a", 20, 117.0, 39.0, 0, None)]).with_columns(
            pl.lit(7, pl.UInt8).alias("sat"), pl.lit(0x101, pl.Int64).alias("alarm")
        )
        store.write_batch(new, no_rejections(), {})
        got = store.read_rows("SELECT device_id, sat, alarm FROM pings ORDER BY ts")
        assert store.read_one("SELECT max(version) FROM schema_version") == (SCHEMA_VERSION,)
    assert got == [("a", None, None), ("a", 7, 0x101)]


def test_the_newest_alert_of_each_alarm_family_tells_what_is_open(opener: Opener):
    """Device T: SOS raised then ended, power cut raised, then offline: the newest per
    family, not per subject (the offline alert would hide the open power cut)."""
    kinds = ["alarm_sos", "alarm_power_cut", "alarm_sos_ended", "device_offline"]
    frame = pl.DataFrame(
        {
            "alert_id": [f"x{i}" for i in range(4)],
            "kind": kinds,
            "grid_id": None,
            "device_id": ["T"] * 4,
            "ts": [T + dt.timedelta(seconds=i) for i in range(4)],
            "raised_at": [T + dt.timedelta(seconds=i) for i in range(4)],
            "detail": "",
        },
        schema=ALERTS.schema,
    )
    families = {k: k.removesuffix("_ended") for k in ("alarm_sos", "alarm_sos_ended")}
    families["alarm_power_cut"] = "alarm_power_cut"
    at = T.timestamp()
    with opener() as store:
        store.write_alerts(frame)
        assert sorted(read_latest_alerts(store, families)) == [
            ("alarm_power_cut", "T", at + 1),
            ("alarm_sos_ended", "T", at + 2),
            ("device_offline", "T", at + 3),
        ]
        assert read_latest_alerts(store) == [("device_offline", "T", at + 3)]


def test_a_command_is_recorded_and_read_back(opener: Opener):
    """device_commands on both engines: appended when the command ended, read by device."""
    row = {
        "command_id": "c1",
        "device_id": "13900005001",
        "action": "locate",
        "params": "{}",
        "requested_by": "Zhao",
        "rollcall": "A",
        "sent_at": T,
        "ended_at": T + dt.timedelta(seconds=0.2),
        "status": "answered",
        "result": 0,
        "ts": T - dt.timedelta(seconds=5),
        "lat": 39.06,
        "lon": 117.16,
        "detail": "",
    }
    timeout = {**row, "command_id": "c2", "status": "timeout", "result": None, "ts": None}
    timeout |= {"lat": None, "lon": None, "sent_at": T + dt.timedelta(seconds=1)}
    with opener() as store:
        record_commands(store, [row, timeout])
        got = read_commands(store, "13900005001", T)
        assert read_commands(store, "13900005001", T + dt.timedelta(seconds=2)).height == 0
    assert got.select("command_id", "status", "result", "lat").rows() == [
        ("c1", "answered", 0, 39.06),
        ("c2", "timeout", None, None),
    ]
