"""The live updater's worker alerts on a real DuckDB file: a roster imported while it runs is
followed (an open condition kept, one of a device off the new roster ended), and a restart
holds the open conditions without raising them again.

Grids: three_in_a_row. Li Wei (d1) on A and Wang Fang (d2) on C, 08:00-12:00 on 2026-11-20
(Asia/Shanghai); the event clock, moved on by fixes of d9 (on no roster) in C.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from geofence.config import GeofenceSettings
from geofence.grids import check_grids
from patrol.config import LiveSettings
from patrol.grids import read_grids, save_grids
from patrol.rosters import import_roster
from patrol.updater import LiveUpdater
from tests.geofence.town import lonlat, three_in_a_row
from tracks.engines import open_store
from tracks.queries import import_devices
from tracks.store import Store

TZ = ZoneInfo("Asia/Shanghai")
DAY = dt.date(2026, 11, 20)
LIVE = LiveSettings(live_clock="event", roster_every_s=0.0, offline_after_s=86400)


def at(hhmm: str) -> float:
    h, m = (int(p) for p in hhmm.split(":"))
    return dt.datetime.combine(DAY, dt.time(h, m), TZ).timestamp()


def roster(path: Path, *rows: str) -> Path:
    path.write_text("worker,device_id,grid_id,date,shifts\n" + "".join(f"{r}\n" for r in rows))
    return path


def pacer(updater: LiveUpdater, hhmm: str) -> None:
    lon, lat = lonlat(100.0, 0.0)
    updater.state.apply_fixes(
        ["d9"],
        np.array([at(hhmm)]),
        np.array([lon]),
        np.array([lat]),
        np.array([updater.grid_set.ids.index("C")], np.int32),
    )


def stored(store: Store) -> list[tuple[str, str, str, str]]:
    rows = store.read_rows(
        "SELECT kind, device_id, epoch(ts), detail FROM alerts "
        "WHERE kind IN ('absent', 'arrived') ORDER BY raised_at, device_id"
    )
    return [
        (k, d, dt.datetime.fromtimestamp(t, TZ).strftime("%H:%M"), why) for k, d, t, why in rows
    ]


@pytest.mark.parametrize("engine", ["file", "lake"])
def test_a_new_roster_is_followed_and_a_restart_raises_nothing_again(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
):
    """On a DuckDB file, and on a lake (where a roster is imported while serve runs)."""
    if engine == "lake":
        lake = request.getfixturevalue("lake")
        store = open_store(lake.db, lake.data_path)
    else:
        store = Store(tmp_path / "gp.db")
    with contextlib.closing(store):
        follow_and_restart(store, tmp_path)


def follow_and_restart(store: Store, tmp_path: Path) -> None:
    devices = tmp_path / "devices.csv"
    devices.write_text(
        "device_id,kind,worker,grid_id\nd1,phone,Li Wei,A\nd2,phone,Wang Fang,C\nd9,phone,Pacer,C\n"
    )
    save_grids(store, check_grids(three_in_a_row(tmp_path / "grids.geojson"))[0])
    grid_set = read_grids(store)
    assert grid_set is not None
    import_devices(store, devices)
    both = roster(tmp_path / "r1.csv", f"Li Wei,d1,A,{DAY},08:00-12:00",
                  f"Wang Fang,d2,C,{DAY},08:00-12:00")  # fmt: skip
    import_roster(store, both)
    updater = LiveUpdater(grid_set, GeofenceSettings(), store, LIVE)
    pacer(updater, "08:06")
    updater.tick()
    assert stored(store) == [
        ("absent", "d1", "08:05", "Li Wei: not in A by shift start + 5 min"),
        ("absent", "d2", "08:05", "Wang Fang: not in C by shift start + 5 min"),
    ]
    import_roster(store, roster(tmp_path / "r2.csv", f"Li Wei,d1,A,{DAY},08:00-12:00"))
    pacer(updater, "08:07")
    updater.tick()
    assert stored(store)[2:] == [("arrived", "d2", "08:07", "off the roster")]
    assert dict(updater.snapshot().workers) == {"absent": {"d1": at("08:05")}}

    restarted = LiveUpdater(grid_set, GeofenceSettings(), store, LIVE)
    assert dict(restarted.snapshot().workers) == {"absent": {"d1": at("08:05")}}
    pacer(restarted, "08:08")
    assert restarted.tick() == []
    lon, lat = lonlat(-100.0, 0.0)
    ended = restarted.state.apply_fixes(
        ["d1"], np.array([at("08:09")]), np.array([lon]), np.array([lat]),
        np.array([restarted.grid_set.ids.index("A")], np.int32),
    )  # fmt: skip
    assert [(str(a.kind), a.device_id, a.at) for a in ended] == [("arrived", "d1", at("08:09"))]
