"""GET /devices on a lake (real Mosquitto, real PostgreSQL, real DuckDB): an ingest worker
stores, the stage moves its live state on, an ``--role api`` process reads live state from
the lake; both answer the positions a scan of the lake's ``pings`` gives."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest

from api.deps import Principal
from api.positions import device_rows
from conftest import Lake
from gridpatrol.broker import Mosquitto
from patrol.positions import stored_positions
from tests.geofence.town import three_in_a_row
from tests.integration.lake_roles import Proc, Serves, ping, wait_until_caught_up
from tests.mqtt_helpers import publish_all, wait_for
from tracks.engines import open_store

pytestmark = pytest.mark.broker

ADMIN = Principal("local", "admin", None)


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


def positions(proc: Proc) -> list[object]:
    """GET /devices, online aside (a scan knows no live state)."""
    got = proc.get("devices")
    assert isinstance(got, list), got
    return [{k: v for k, v in d.items() if k != "online"} for d in got]


def test_positions_on_the_stage_and_an_api_process_equal_a_scan_of_the_lake(
    broker: Mosquitto, lake: Lake, serves: Serves, tmp_path: Path
):
    grids = three_in_a_row(tmp_path / "grids.geojson", interval_s=600)
    devices = tmp_path / "devices.csv"
    devices.write_text("device_id,kind,worker,grid_id\nd1,tracker,Li,A\nidle,phone,Zhao,B\n")
    group = f"g{uuid.uuid4().hex[:6]}"
    stage = serves(
        lake, broker, "stage", f"{group}-s", "--grids", str(grids), "--devices", str(devices)
    )
    stage.wait_for_line("leading the stage", 60)
    api = serves(lake, broker, "api", f"{group}-api")
    serves.workers(lake, broker, group, 1)
    now = time.time()
    messages = [ping("d1", now - 300 + 10 * i, -150 + 5 * i) for i in range(20)]
    messages += [ping("d2", now - 200 + 10 * i, 100 - 2 * i) for i in range(10)]
    publish_all(broker, messages)
    wait_until_caught_up(stage)
    with open_store(lake.db, lake.data_path, read_only=True) as reader:
        rows = device_rows(stored_positions(reader), ADMIN, ZoneInfo("Asia/Shanghai"))
    scan = [{k: v for k, v in r.items() if k != "online"} for r in rows]  # type: ignore[attr-defined]
    assert [r["device_id"] for r in scan] == ["d1", "d2", "idle"]  # type: ignore[index]
    assert scan[0]["last_seen"] is not None and scan[2]["last_seen"] is None  # type: ignore[index]
    stage.wait_for_api(60)
    wait_for(lambda: positions(stage) == scan, 30, what="the stage's positions = the scan")
    api.wait_for_api(60)
    # the api process takes the live state again from the lake every 5 s
    wait_for(lambda: positions(api) == scan, 30, what="the api's positions = the scan")
    # the api role's reads are on record in the lake's access log (written by the api process
    # through a store of its own: its other reads stay read-only)
    window = {"start": _iso(now - 3600), "end": _iso(now + 60)}
    track = api.get("devices/d1/track?" + urlencode(window))
    assert isinstance(track, dict) and len(track["geometry"]["coordinates"]) == 20, track

    def recorded() -> list[tuple[object, ...]]:
        with open_store(lake.db, lake.data_path, read_only=True) as reader:
            return reader.read_rows(
                "SELECT role, method, status, params FROM access_log "
                "WHERE route = '/api/v1/devices/{device_id}/track'"
            )

    rows = wait_for(recorded, 30, what="the api's track read in the lake's access_log")
    assert len(rows) == 1 and rows[0][:3] == ("local", "GET", 200), rows
    assert '"d1"' in str(rows[0][3]), rows
