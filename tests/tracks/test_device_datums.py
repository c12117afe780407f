"""A device's datum: imported with the registry (file and lake), an older store upgraded
with the table empty, and its pings stored as WGS-84 and placed in the grid they are in."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from base.datum import Datum, from_wgs84
from base.errors import ConfigError
from conftest import Lake
from geofence.assign import assign
from geofence.grids import load_grids
from ingest.config import IngestSettings
from ingest.message import Message
from ingest.prepare import Preparer
from tests.geofence.town import lonlat, three_in_a_row
from tracks.devices import read_device_datums
from tracks.engines import open_store
from tracks.queries import import_devices
from tracks.schema import SCHEMA_VERSION
from tracks.store import Store

Opener = Callable[[], Store]
HEADER = "device_id,kind,worker,grid_id,datum\n"


@pytest.fixture(params=["file", "lake"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    if request.param == "file":
        return lambda: open_store(tmp_path / "gp.db", None)
    lake: Lake = request.getfixturevalue("lake")
    return lambda: open_store(lake.db, lake.data_path)


def test_datums_are_imported_and_a_reimport_resets_them(opener: Opener, tmp_path: Path):
    csv = tmp_path / "devices.csv"
    csv.write_text(
        HEADER
        + "bike-01,tracker,李伟,A,\nphone-02,phone,王芳,B,GCJ-02\nphone-03,phone,赵,C,bd09\n",
        encoding="gbk",
    )
    with opener() as store:
        assert import_devices(store, csv) == 3
        assert read_device_datums(store) == {"phone-02": Datum.GCJ02, "phone-03": Datum.BD09}
        # the same devices without the column: WGS-84 again
        csv.write_text("device_id,kind,worker,grid_id\nphone-02,phone,王芳,B\n")
        import_devices(store, csv)
        assert read_device_datums(store) == {"phone-03": Datum.BD09}
        assert store.read_one("SELECT count(*) FROM device_datums") == (3,)


def test_a_version_4_store_gets_device_datums_on_upgrade(opener: Opener):
    with opener() as store, store.transaction() as con:  # back to version 4
        con.execute("DROP TABLE device_datums")
        con.execute("DELETE FROM schema_version")
        con.execute("INSERT INTO schema_version VALUES (4)")
    with opener() as store:
        assert store.read_one("SELECT count(*) FROM device_datums") == (0,)
        assert store.read_one("SELECT max(version) FROM schema_version") == (SCHEMA_VERSION,)
        assert read_device_datums(store) == {}


def test_unknown_datums_are_refused_one_line_each(tmp_path: Path):
    csv = tmp_path / "devices.csv"
    csv.write_text(HEADER + "a,tracker,Li,A,wgs84\nb,tracker,Li,A,mars\nc,phone,Li,A,CGCS2000\n")
    with Store(tmp_path / "gp.db") as store:
        with pytest.raises(ConfigError) as caught:
            import_devices(store, csv)
        assert store.read_rows("SELECT count(*) FROM devices") == [(0,)]
        assert store.read_rows("SELECT count(*) FROM device_datums") == [(0,)]
    assert str(caught.value).splitlines() == [
        f"{csv}: 2 datums not known (one of wgs84, gcj02, bd09):",
        "  line 3: 'mars'",
        "  line 4: 'CGCS2000'",
    ]


def test_pings_of_a_gcj02_or_bd09_device_are_stored_as_wgs84(tmp_path: Path):
    grid_set = load_grids(three_in_a_row(tmp_path / "grids.geojson"))
    lon, lat = (np.array([v]) for v in lonlat(0.0, 0.0))  # the middle of grid B
    gcj = from_wgs84(Datum.GCJ02, lon, lat)
    bd = from_wgs84(Datum.BD09, lon, lat)
    now = time.time()
    ts = round(now - 60)

    def ping(device: str, x: np.ndarray, y: np.ndarray, t: int = ts) -> Message:
        body = b'{"ts": %d, "lat": %.9f, "lon": %.9f}' % (t, y[0], x[0])
        return Message(f"gridpatrol/v1/ping/{device}", body, now)

    datums = {"amap-phone": Datum.GCJ02, "baidu-phone": Datum.BD09}
    preparer = Preparer(
        IngestSettings(),
        assign=lambda x, y: assign(grid_set, x, y),
        grid_ids=grid_set.ids,
        datums=datums,
    )
    batch = preparer.prepare(
        [
            ping("amap-phone", *gcj),
            ping("baidu-phone", *bd),
            ping("tracker", lon, lat),
            ping("amap-phone", *gcj, t=ts + 10**9),  # far in the future: rejected, as sent
            ping("tracker", *gcj, t=ts + 5),  # a WGS-84 device's point is not moved
        ]
    )
    got = batch.pings.select("device_id", "lon", "lat", "grid_id").rows()
    metres = [float(np.hypot((x - lon[0]) * 86_500, (y - lat[0]) * 111_000)) for _, x, y, _ in got]
    assert [(d, g) for d, _, _, g in got] == [
        ("amap-phone", "B"),
        ("baidu-phone", "B"),
        ("tracker", "B"),
        ("tracker", None),  # the GCJ-02 point as WGS-84: 560 m away, outside every grid
    ]
    assert max(metres[:3]) < 0.01 and 500 < metres[3] < 600
    assert batch.rejected["reason"].to_list() == ["ts_future"]
    assert b"%.9f" % gcj[0][0] in batch.rejected["payload"][0]
