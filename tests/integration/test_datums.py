"""A phone that reports GCJ-02 (an Amap SDK app, OwnTracks on iOS in China), through a real
Mosquitto into a real DuckDB file: its pings stored as WGS-84 and placed in the grid it is
in; a tracker's WGS-84 pings untouched."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from base.datum import Datum, from_wgs84
from gridpatrol.broker import Mosquitto
from gridpatrol.compose import IngestProcess
from gridpatrol.roles import ServeOptions
from ingest.config import IngestSettings
from tests.geofence.town import lonlat, three_in_a_row
from tests.integration.test_ingest import native, received
from tests.mqtt_helpers import publish_all, running, wait_for

pytestmark = pytest.mark.broker


def test_a_gcj02_phone_is_stored_in_wgs84(broker: Mosquitto, tmp_path: Path):
    devices = tmp_path / "devices.csv"
    devices.write_text(
        "device_id,kind,worker,grid_id,datum\n"
        "amap-phone,phone,李伟,A,gcj02\nowntracks.ios,phone,王芳,C,GCJ-02\nbike-1,tracker,赵,B,\n",
        encoding="utf-8",
    )
    lon, lat = (np.array([v]) for v in lonlat(0.0, 0.0))  # the middle of grid B
    g_lon, g_lat = from_wgs84(Datum.GCJ02, lon, lat)
    now = time.time()
    messages = [
        native("amap-phone", {"ts": now - 5, "lat": g_lat[0], "lon": g_lon[0]}),
        native("bike-1", {"ts": now - 5, "lat": lat[0], "lon": lon[0]}),
        (
            "owntracks/owntracks/ios",
            b'{"_type": "location", "lat": %r, "lon": %r, "tst": %d}'
            % (float(g_lat[0]), float(g_lon[0]), int(now) - 4),
        ),
    ]
    options = ServeOptions(
        db=tmp_path / "gp.db", grids=three_in_a_row(tmp_path / "g.geojson"), devices=devices
    )
    settings = IngestSettings(
        broker=broker.url,
        client_id=f"test-serve-{uuid.uuid4().hex[:8]}",
        session_expiry_s=5,
        batch_age_ms=50,
    )
    service = IngestProcess(options, settings)
    with running(service):
        publish_all(broker, messages)
        wait_for(lambda: received(service) == 3, what="3 pings counted")
        wait_for(
            lambda: service.store.read_one("SELECT count(*) FROM pings") == (3,),
            what="3 pings stored",
        )
        rows = service.store.read_rows("SELECT device_id, lon, lat, grid_id FROM pings")
    for device, x, y, grid in rows:
        metres = float(np.hypot((x - lon[0]) * 86_500, (y - lat[0]) * 111_000))
        assert metres < 0.01 and grid == "B", (device, metres, grid)
    assert {r[0] for r in rows} == {"amap-phone", "bike-1", "owntracks.ios"}
