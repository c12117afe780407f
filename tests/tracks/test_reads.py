"""The named reads beside the store: registry, device positions, alerts, fixes of a window."""

from __future__ import annotations

import datetime as dt

import polars as pl

from tracks.alerts import count_alerts, read_alerts
from tracks.devices import read_assignments, read_device_positions, read_devices
from tracks.queries import count_pings, read_fixes
from tracks.schema import ALERTS, DEVICES, PINGS, REJECTED
from tracks.store import Store

UTC = dt.UTC
T = dt.datetime(2026, 11, 20, 0, 0, tzinfo=UTC)


def pings(rows: list[tuple[str, int, float, float, int, str | None]]) -> pl.DataFrame:
    """(device, seconds after T, lon, lat, flags, grid) rows as a batch of the pings schema."""
    frame = pl.DataFrame(
        {
            "device_id": [r[0] for r in rows],
            "ts": [T + dt.timedelta(seconds=r[1]) for r in rows],
            "lon": [r[2] for r in rows],
            "lat": [r[3] for r in rows],
            "flags": [r[4] for r in rows],
            "grid_id": [r[5] for r in rows],
        },
    )
    frame = frame.with_columns(received_at=pl.col("ts"))
    missing = [
        pl.lit(None, PINGS.schema[c]).alias(c) for c in PINGS.names if c not in frame.columns
    ]
    return frame.with_columns(missing).select(PINGS.names).cast(PINGS.schema)


def fill(store: Store) -> None:
    store.upsert_devices(
        pl.DataFrame(
            {
                "device_id": ["b", "a", "c"],
                "kind": ["tracker", "phone", "tracker"],
                "worker": ["Wang", None, "Li"],
                "grid_id": ["G1", "G2", None],
            },
            schema=DEVICES.schema,
        )
    )
    store.write_batch(
        pings(
            [
                ("a", 10, 117.0, 39.0, 0, "G2"),
                ("a", 20, 117.1, 39.1, 0, "G3"),
                ("a", 30, 117.2, 39.2, 1, "G1"),  # flagged: not usable
                ("z", 15, 117.3, 39.3, 0, "G1"),  # not registered
            ]
        ),
        REJECTED.empty(),
        {},
    )
    store.write_alerts(
        pl.DataFrame(
            {
                "alert_id": ["x1", "x2"],
                "kind": ["overdue", "device_offline"],
                "grid_id": ["G1", None],
                "device_id": [None, "b"],
                "ts": [T, T],
                "raised_at": [T, T + dt.timedelta(seconds=5)],
                "detail": ["", ""],
            },
            schema=ALERTS.schema,
        )
    )


def test_registry_reads(tmp_path):
    with Store(tmp_path / "gp.db") as store:
        fill(store)
        everyone = read_devices(store)
        one = read_devices(store, "b")
        none = read_devices(store, "nobody")
        assigned = read_assignments(store)
    assert everyone["device_id"].to_list() == ["a", "b", "c"]
    assert everyone.schema == DEVICES.schema
    assert one.rows() == [("b", "tracker", "Wang", "G1")] and none.height == 0
    # by worker, nulls last; devices without a grid left out
    assert assigned.rows() == [("b", "Wang", "G1"), ("a", None, "G2")]


def test_device_positions_join_the_registry_and_the_newest_usable_fix(tmp_path):
    with Store(tmp_path / "gp.db") as store:
        fill(store)
        positions = read_device_positions(store)
    rows = {r["device_id"]: r for r in positions.iter_rows(named=True)}
    assert sorted(rows) == ["a", "b", "c", "z"]
    assert (rows["a"]["ts"], rows["a"]["lon"], rows["a"]["current_grid"]) == (
        T + dt.timedelta(seconds=20),
        117.1,
        "G3",
    )
    assert rows["b"]["ts"] is None and rows["b"]["grid_id"] == "G1"
    assert rows["z"]["kind"] is None and rows["z"]["current_grid"] == "G1"


def test_fixes_of_a_window_are_usable_and_sorted(tmp_path):
    with Store(tmp_path / "gp.db") as store:
        fill(store)
        fixes = read_fixes(store, T, T + dt.timedelta(seconds=20))
        assert count_pings(store) == 4
    us = int(T.timestamp() * 1e6)
    assert fixes.rows() == [
        ("a", us + 10_000_000, 117.0, 39.0),
        ("z", us + 15_000_000, 117.3, 39.3),
    ]


def test_alerts_newest_first_with_the_device_grid(tmp_path):
    with Store(tmp_path / "gp.db") as store:
        fill(store)
        alerts = read_alerts(store, T, limit=10)
        latest = read_alerts(store, T, limit=1)
        later = read_alerts(store, T + dt.timedelta(seconds=1), limit=10)
        assert count_alerts(store) == 2
    assert alerts.select("alert_id", "device_grid").rows() == [("x2", "G1"), ("x1", None)]
    assert latest["alert_id"].to_list() == ["x2"] and later["alert_id"].to_list() == ["x2"]


def test_a_newest_fix_outside_every_grid_has_no_current_grid(tmp_path):
    """DuckDB's arg_max skips NULL arguments: the newest fix's grid must be read as a list."""
    from tracks.queries import read_last_fixes

    with Store(tmp_path / "gp.db") as store:
        store.write_batch(
            pings([("m", 10, 117.0, 39.0, 0, "G2"), ("m", 20, 117.5, 39.5, 0, None)]),
            REJECTED.empty(),
            {},
        )
        positions = read_device_positions(store).row(0, named=True)
        last = read_last_fixes(store)
    assert positions["current_grid"] is None and positions["lon"] == 117.5
    assert last["m"][3] is None and last["m"][1] == 117.5
